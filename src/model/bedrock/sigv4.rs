//! AWS Signature Version 4 for one request, written out (HMAC-SHA256 over the canonical
//! request) rather than pulling in `aws-sigv4` and its smithy runtime tree for ~80 lines; the
//! unit test checks it against a signature the AWS SDK for JavaScript produced.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The credentials that sign.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID` (not secret on its own; still kept out of messages).
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Secret,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<Secret>,
}

/// Hex SHA-256 of a payload (`x-amz-content-sha256`).
pub fn payload_hash(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

/// RFC 3986 encoding of everything but unreserved characters (`escapeUri`).
pub fn encode(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// What to sign.
#[derive(Debug)]
pub struct SigningInput<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The path as sent (already percent-encoded once).
    pub path: &'a str,
    /// The query as sent (empty for Bedrock).
    pub query: &'a str,
    /// Every header to sign, names lowercase, in any order.
    pub headers: &'a [(&'a str, &'a str)],
    /// [`payload_hash`] of the body.
    pub payload_hash: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
    /// `us-east-1`.
    pub region: &'a str,
    /// `bedrock`.
    pub service: &'a str,
}

/// The `Authorization` header value.
pub fn authorization(input: &SigningInput<'_>, credentials: &Credentials) -> String {
    let mut headers: Vec<(String, String)> = input
        .headers
        .iter()
        .map(|(name, value)| {
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            (name.to_ascii_lowercase(), value)
        })
        .collect();
    headers.sort();
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    // Non-S3 services sign the path encoded a second time.
    let canonical_path = input
        .path
        .split('/')
        .map(encode)
        .collect::<Vec<_>>()
        .join("/");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        input.method,
        canonical_path,
        input.query,
        canonical_headers,
        signed_headers,
        input.payload_hash
    );
    let date = &input.amz_date[..8.min(input.amz_date.len())];
    let scope = format!("{date}/{}/{}/aws4_request", input.region, input.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        input.amz_date,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = format!("AWS4{}", credentials.secret_access_key.expose());
    let key = hmac(key.as_bytes(), date);
    let key = hmac(&key, input.region);
    let key = hmac(&key, input.service);
    let key = hmac(&key, "aws4_request");
    let signature = hex::encode(hmac(&key, &string_to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request the AWS SDK for JavaScript 3.1163 signed (captured from `aigne run` with
    /// `bedrock:us.amazon.nova-lite-v1:0` against a fake endpoint).
    #[test]
    fn matches_the_aws_sdk() {
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        };
        let hash = "c7393ec8016dced0dc38dd2d13a6d65f4bb55e6455ae36120c58f520d1dacc94";
        let headers = [
            (
                "amz-sdk-invocation-id",
                "5af0ee0e-7c46-4bc0-979c-7cb400d5b999",
            ),
            ("amz-sdk-request", "attempt=1; max=3"),
            ("content-length", "472"),
            ("content-type", "application/json"),
            ("host", "127.0.0.1:18905"),
            ("x-amz-content-sha256", hash),
            ("x-amz-date", "20261124T004946Z"),
            ("x-amz-user-agent", "aws-sdk-js/3.1163.0"),
        ];
        let authorization = authorization(
            &SigningInput {
                method: "POST",
                path: "/model/us.amazon.nova-lite-v1%3A0/converse-stream",
                query: "",
                headers: &headers,
                payload_hash: hash,
                amz_date: "20261124T004946Z",
                region: "us-east-1",
                service: "bedrock",
            },
            &credentials,
        );
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/bedrock/aws4_request, \
             SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-user-agent, \
             Signature=2187cc0d52ed27fa579e4f296e31c8d32f857340bd6938a22a7edba90af870e0"
        );
    }

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(
            encode("us.amazon.nova-lite-v1:0"),
            "us.amazon.nova-lite-v1%3A0"
        );
        assert_eq!(encode("a b/~"), "a%20b%2F~");
    }
}
