//! A fake GitHub REST API on loopback for `aigne-ci comment`: the issue-comment calls (list with
//! `Link` pagination, create, edit), under an optional path prefix (GitHub Enterprise's
//! `/api/v3`), recording every request. Runs on the shared [`super::server::Loopback`] bootstrap.

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::server::Loopback;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    /// Path and query, as sent (prefix included).
    pub target: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A comment the fake holds.
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    pub body: String,
}

/// What the fake does.
#[derive(Debug, Clone)]
pub(crate) struct Behaviour {
    /// Path prefix of the API (`""` for github.com, `/api/v3` for GitHub Enterprise Server).
    pub prefix: String,
    /// Comments per page (GitHub's is `per_page`, up to 100; small here to test pages).
    pub page_size: usize,
    /// Answer every request with 403.
    pub forbidden: bool,
    /// This many creations make the comment and then answer 502 (a lost answer).
    pub lost_creations: usize,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            page_size: 100,
            forbidden: false,
            lost_creations: 0,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    comments: Vec<Comment>,
    next_id: u64,
    lost_creations: usize,
}

/// The server.
pub(crate) struct FakeGithub {
    /// `http://127.0.0.1:PORT` + the prefix: what `GITHUB_API_URL` is set to.
    pub api_url: String,
    state: Arc<Mutex<State>>,
    server: Loopback,
}

impl FakeGithub {
    /// Starts a fake holding `comments` on every pull request.
    pub(crate) fn start(behaviour: Behaviour, comments: Vec<Comment>) -> Self {
        let next_id = comments
            .iter()
            .map(|comment| comment.id)
            .max()
            .unwrap_or(1000)
            + 1;
        let state = Arc::new(Mutex::new(State {
            comments,
            next_id,
            lost_creations: behaviour.lost_creations,
        }));
        // The `Link` headers name the server's own origin, known once it is bound.
        let origin = Arc::new(OnceLock::<String>::new());
        let (shared, known_origin, prefix) =
            (state.clone(), origin.clone(), behaviour.prefix.clone());
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let state = shared.clone();
            let behaviour = behaviour.clone();
            let origin = known_origin.clone();
            async move {
                let origin = origin.get().map_or("", String::as_str);
                answer(&state, &behaviour, origin, method, uri, body)
            }
        });
        let server = Loopback::serve(app);
        origin.set(server.url()).expect("the origin is set once");
        Self {
            api_url: format!("{}{prefix}", server.url()),
            state,
            server,
        }
    }

    /// Every request so far, in arrival order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.server
            .requests()
            .into_iter()
            .map(|request| Seen {
                authorization: request.header("authorization").map(str::to_owned),
                body: request.json(),
                target: match &request.query {
                    Some(query) => format!("{}?{query}", request.path),
                    None => request.path.clone(),
                },
                method: request.method,
            })
            .collect()
    }

    /// The comments now.
    pub(crate) fn comments(&self) -> Vec<Comment> {
        self.state.lock().unwrap().comments.clone()
    }
}

fn answer(
    state: &Mutex<State>,
    behaviour: &Behaviour,
    origin: &str,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut state = state.lock().unwrap();
    if behaviour.forbidden {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest"})),
        )
            .into_response();
    }
    let Some(path) = uri.path().strip_prefix(behaviour.prefix.as_str()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let comment_json = |comment: &Comment| json!({"id": comment.id, "body": comment.body, "html_url": format!("https://github.example/o/r/pull/7#issuecomment-{}", comment.id), "user": {"login": "github-actions[bot]"}});
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["repos", _, _, "issues", _, "comments"]) => {
            let page: usize = uri
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|pair| pair.strip_prefix("page="))
                .and_then(|page| page.parse().ok())
                .unwrap_or(1);
            let start = (page - 1) * behaviour.page_size;
            let items: Vec<Value> = state
                .comments
                .iter()
                .skip(start)
                .take(behaviour.page_size)
                .map(comment_json)
                .collect();
            let mut response = axum::Json(items).into_response();
            if start + behaviour.page_size < state.comments.len() {
                let next = format!(
                    "<{origin}{}?per_page=100&page={}>; rel=\"next\", <{origin}{}?page=99>; rel=\"last\"",
                    uri.path(),
                    page + 1,
                    uri.path()
                );
                response
                    .headers_mut()
                    .insert("link", HeaderValue::from_str(&next).unwrap());
            }
            response
        }
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            let text = serde_json::from_slice::<Value>(&body).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_owned();
            let comment = Comment {
                id: state.next_id,
                body: text,
            };
            state.next_id += 1;
            state.comments.push(comment.clone());
            if state.lost_creations > 0 {
                state.lost_creations -= 1;
                return StatusCode::BAD_GATEWAY.into_response();
            }
            (StatusCode::CREATED, axum::Json(comment_json(&comment))).into_response()
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap();
            let text = serde_json::from_slice::<Value>(&body).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_owned();
            match state.comments.iter_mut().find(|comment| comment.id == id) {
                Some(comment) => {
                    comment.body = text;
                    let comment = comment.clone();
                    axum::Json(comment_json(&comment)).into_response()
                }
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
