//! Instruction templates with Nunjucks semantics (AIGNE `prompt/template.ts`), on minijinja.
//!
//! What matches Nunjucks as AIGNE configures it:
//! - `{{ a.b }}`, `{{ a["b"] }}`, `{% if %}/{% elif %}/{% else %}`, `{% for %}` (with `loop.*`),
//!   `{% set %}`, `{% include "path" %}` (relative to the including file; the root template's
//!   folder is the instruction file's, or the agent file's for inline text), comments, whitespace
//!   control (`{%-`, `-%}`), and the usual filters (`length`, `join`, `upper`, `default`, …).
//! - Undefined variables and attributes of undefined values render as empty (no error).
//! - `null`/undefined render as empty; objects and arrays render as compact JSON (AIGNE overrides
//!   `suppressValue`); no HTML escaping; a trailing newline is kept.
//! - Filters `yaml.stringify` (YAML as npm `yaml` prints it), `json.stringify(replacer, indent)`
//!   and `dump`. Dotted filter names are rewritten to `yaml_stringify`/`json_stringify` before
//!   parsing (also in included files).
//! - A template that renders to the empty string is an error (`Failed to render template`).
//! - Nunjucks' JavaScript readings, rewritten before parsing (`rewrite_code`,
//!   `rewrite_truthiness`): `==`/`!=` as JavaScript's loose equality with its precedence, bare
//!   dict keys as text, digit-led names (`1e3`) as variables, conditions with JavaScript's
//!   truthiness (an empty array is true) and `and`/`or` returning an operand.
//!
//! Not supported (documented in `docs/native-engine.md`): `$afs` and `$agent` variables (names
//! starting with `$`), JS method calls on values (`name.toUpperCase()`), `tson.stringify`,
//! `{% for k, v in object %}` over a mapping (use `object|items`), `{% macro %}`/`{% import %}`
//! across files with Nunjucks-only syntax, `{% extends %}` blocks from files with Nunjucks-only
//! syntax, and Nunjucks-only filters (`dump` is provided; others like `selectattr` follow
//! minijinja semantics).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use minijinja::value::{Value as TemplateValue, ValueKind};
use minijinja::{AutoEscape, Environment, Error as TemplateError, ErrorKind, UndefinedBehavior};
use regex::Regex;
use serde_json::Value;

use super::yaml::to_yaml_string;
use crate::project::FileAccess;
use crate::zod::js_string;

/// A template failed to render; the message names the template file and line when known.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderError {
    /// The file the template came from.
    pub path: PathBuf,
    /// The line in that file (for errors inside included files, the include's file).
    pub line: Option<usize>,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.message)
    }
}

static DOTTED_FILTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\|\s*(yaml|json|tson)\.stringify").unwrap_or_else(|_| unreachable!())
});

/// Nunjucks' async tags (`{% ifAsync %}`, `{% asyncEach %}`, `{% asyncAll %}` and their ends)
/// and `elseif`: with synchronous values they render as `if`/`for`/`elif` do.
static ASYNC_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\{%-?\s*)(ifAsync|asyncEach|asyncAll|elseif|endeach|endall)\b")
        .unwrap_or_else(|_| unreachable!())
});

/// Rewrites Nunjucks-only syntax that minijinja cannot parse.
fn preprocess(source: &str) -> String {
    let source = DOTTED_FILTER.replace_all(source, "| ${1}_stringify");
    let source = ASYNC_TAG.replace_all(&source, |captures: &regex::Captures<'_>| {
        let tag = match &captures[2] {
            "ifAsync" => "if",
            "asyncEach" | "asyncAll" => "for",
            "elseif" => "elif",
            _ => "endfor",
        };
        format!("{}{tag}", &captures[1])
    });
    map_code_blocks(&source, |block| rewrite_expressions(&rewrite_length(block)))
}

/// Applies `rewrite` to each code block of `source` (`{{ … }}` and `{% … %}`, delimiters
/// included), outside comments and `{% raw %}` blocks; the rest is copied. A hand-written scan:
/// minijinja exposes no AST to rewrite, and a regular expression cannot tell a string literal
/// from an expression.
fn map_code_blocks(source: &str, rewrite: impl Fn(&str) -> String) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut index = 0;
    let mut in_raw = false;
    while index < bytes.len() {
        let rest = &source[index..];
        let opener = if rest.starts_with("{{") {
            Some("}}")
        } else if rest.starts_with("{%") {
            Some("%}")
        } else if rest.starts_with("{#") {
            Some("#}")
        } else {
            None
        };
        let Some(closer) = opener else {
            let next = rest.find('{').map_or(rest.len(), |at| at.max(1));
            out.push_str(&rest[..next]);
            index += next;
            continue;
        };
        // The block up to its closer (outside string literals).
        let mut end = index + 2;
        let mut quote: Option<u8> = None;
        while end < bytes.len() {
            let byte = bytes[end];
            match quote {
                Some(_) if byte == b'\\' => end += 1,
                Some(q) if byte == q => quote = None,
                Some(_) => {}
                None if closer != "#}" && (byte == b'"' || byte == b'\'') => quote = Some(byte),
                None if source[end..].starts_with(closer) => break,
                None => {}
            }
            end += 1;
        }
        let block_end = (end + 2).min(bytes.len());
        let block = &source[index..block_end];
        let tag = block
            .trim_start_matches(['{', '%', '-', '+'])
            .trim_start()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        if closer == "%}" && tag == "raw" {
            in_raw = true;
        } else if closer == "%}" && tag == "endraw" {
            in_raw = false;
        }
        if closer == "#}" || in_raw || tag == "raw" {
            out.push_str(block);
            index = block_end;
            continue;
        }
        out.push_str(&rewrite(block));
        index = block_end;
    }
    out
}

/// Nunjucks looks attributes up as JavaScript does, so `items.length` and `name.length` are an
/// array's or a string's length (real prompts write `{% if items.length %}`); minijinja has no
/// such attribute. In a code block (outside string literals), `.length` after a value becomes
/// the `js_length` filter, which reads the length as JavaScript does.
fn rewrite_length(block: &str) -> String {
    const ATTRIBUTE: &str = ".length";
    let mut out = String::with_capacity(block.len());
    let block_bytes = block.as_bytes();
    let mut position = 0;
    let mut quote: Option<u8> = None;
    while position < block.len() {
        let byte = block_bytes[position];
        match quote {
            Some(_) if byte == b'\\' => {
                out.push_str(&block[position..(position + 2).min(block.len())]);
                position += 2;
                continue;
            }
            Some(q) if byte == q => quote = None,
            Some(_) => {}
            None if byte == b'"' || byte == b'\'' => quote = Some(byte),
            None if block[position..].starts_with(ATTRIBUTE) => {
                let before = block_bytes.get(position.wrapping_sub(1)).copied();
                let after = block_bytes.get(position + ATTRIBUTE.len()).copied();
                let after_value = before.is_some_and(|c| {
                    c.is_ascii_alphanumeric() || c == b'_' || c == b')' || c == b']'
                });
                let whole_word = !after.is_some_and(|c| {
                    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'('
                });
                if after_value && whole_word {
                    out.push_str("|js_length");
                    position += ATTRIBUTE.len();
                    continue;
                }
            }
            None => {}
        }
        let width = block[position..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&block[position..position + width]);
        position += width;
    }
    out
}

/// A token of a code block: a word (names, numbers, keywords), a string literal, or an operator
/// or punctuation (`==`, `!=`, `===`, `!==`, `<=`, `>=`, `//`, `**`, else one character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Word,
    Text,
    Punct,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: TokenKind,
    start: usize,
    end: usize,
}

fn tokenize(code: &str) -> Vec<Token> {
    const OPERATORS: &[&str] = &["===", "!==", "==", "!=", "<=", ">=", "//", "**"];
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut tokens = Vec::new();
    let mut chars = code.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let (kind, end) = if c == '"' || c == '\'' {
            let mut end = code.len();
            let mut escaped = false;
            for (at, next) in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if next == '\\' {
                    escaped = true;
                } else if next == c {
                    end = at + 1;
                    break;
                }
            }
            (TokenKind::Text, end)
        } else if is_word(c) {
            let mut end = start + c.len_utf8();
            while let Some(&(at, next)) = chars.peek() {
                if !is_word(next) {
                    break;
                }
                end = at + next.len_utf8();
                chars.next();
            }
            (TokenKind::Word, end)
        } else {
            let width = OPERATORS
                .iter()
                .find(|operator| code[start..].starts_with(**operator))
                .map_or(c.len_utf8(), |operator| operator.len());
            for _ in 1..code[start..start + width].chars().count() {
                chars.next();
            }
            (TokenKind::Punct, start + width)
        };
        tokens.push(Token { kind, start, end });
    }
    tokens
}

/// The code of a block between its delimiters (`{{`/`{%` with a `-`/`+` whitespace control, and
/// the closers), as a byte range.
fn block_code(block: &str) -> (usize, usize) {
    let mut start = 2.min(block.len());
    if block[start..].starts_with(['-', '+']) {
        start += 1;
    }
    let mut end = block.len();
    if block.ends_with("}}") || block.ends_with("%}") {
        end -= 2;
        if end > start && block[..end].ends_with(['-', '+']) {
            end -= 1;
        }
    }
    (start, end.max(start))
}

/// Rewrites what Nunjucks reads otherwise than minijinja in a code block (see
/// [`rewrite_code`]); the delimiters are kept.
fn rewrite_expressions(block: &str) -> String {
    let (start, end) = block_code(block);
    let statement = block.starts_with("{%");
    let code = rewrite_code(&block[start..end], statement);
    format!(
        "{}{}{}",
        &block[..start],
        rewrite_truthiness(&code, statement),
        &block[end..]
    )
}

/// Nunjucks tests conditions with JavaScript's truthiness, where an empty array or object is
/// true (minijinja: false), and its `and`/`or` are JavaScript's `&&`/`||`, which return an
/// operand (`items or 'none'` is `[]` for an empty `items`). Where the code of a block is an
/// expression (`{{ … }}`, the condition of `{% if %}`/`{% elif %}`, the value of `{% set x =
/// … %}`, the list of `{% for … in … %}`), each condition is rewritten to test
/// `__aigne_truthy(…)`, `not x` to `__aigne_not(x)`, and `a or b`/`a and b` to the inline `if`
/// that returns what JavaScript returns (`((a) if __aigne_truthy(a) else (b))`; the
/// parentheses keep a test such as `is defined` from reading `if` as its argument), leaving what
/// minijinja evaluates alike (comparisons, tests, filters, lookups) as it is.
fn rewrite_truthiness(code: &str, statement: bool) -> String {
    let tokens = tokenize(code);
    if tokens.is_empty() {
        return code.to_owned();
    }
    let text = |token: &Token| &code[token.start..token.end];
    let condition = statement && matches!(text(&tokens[0]), "if" | "elif");
    let from = if !statement {
        0
    } else {
        match text(&tokens[0]) {
            "if" | "elif" => 1,
            "set" | "for" => {
                let separator = if text(&tokens[0]) == "set" { "=" } else { "in" };
                match top_level(code, &tokens, 1, tokens.len())
                    .find(|&index| text(&tokens[index]) == separator)
                {
                    Some(index) => index + 1,
                    None => return code.to_owned(),
                }
            }
            _ => return code.to_owned(),
        }
    };
    if from >= tokens.len() {
        return code.to_owned();
    }
    let logic = Logic {
        code,
        tokens: &tokens,
    };
    let mut rewritten = logic.expression(from, tokens.len());
    if condition {
        rewritten = format!("__aigne_truthy({rewritten})");
    }
    format!(
        "{}{rewritten}{}",
        &code[..tokens[from].start],
        &code[tokens[tokens.len() - 1].end..]
    )
}

/// The indexes of the tokens in `from..to` outside brackets.
fn top_level<'t>(
    code: &'t str,
    tokens: &'t [Token],
    from: usize,
    to: usize,
) -> impl Iterator<Item = usize> + 't {
    let mut depth = 0usize;
    (from..to).filter(move |&index| {
        let token = &tokens[index];
        let text = &code[token.start..token.end];
        if token.kind == TokenKind::Punct && matches!(text, "(" | "[" | "{") {
            depth += 1;
            return false;
        }
        if token.kind == TokenKind::Punct && matches!(text, ")" | "]" | "}") {
            depth = depth.saturating_sub(1);
            return false;
        }
        depth == 0
    })
}

/// Nunjucks' expression grammar from the inline `if` down to `not` (`parseInlineIf`,
/// `parseOr`, `parseAnd`, `parseNot`), over a block's tokens, rewritten as JavaScript
/// evaluates the compiled code.
struct Logic<'a> {
    code: &'a str,
    tokens: &'a [Token],
}

impl Logic<'_> {
    fn word(&self, index: usize, word: &str) -> bool {
        let token = &self.tokens[index];
        token.kind == TokenKind::Word && &self.code[token.start..token.end] == word
    }

    /// The top-level tokens of `from..to` that are the keyword `word`.
    fn split(&self, from: usize, to: usize, word: &str) -> Vec<usize> {
        top_level(self.code, self.tokens, from, to)
            .filter(|&index| self.word(index, word))
            .collect()
    }

    /// `body if cond else other` (`(cond ? body : other)`).
    fn expression(&self, from: usize, to: usize) -> String {
        if from >= to {
            return String::new();
        }
        let Some(&at) = self.split(from, to, "if").first() else {
            return self.or(from, to);
        };
        let body = self.or(from, at);
        match self.split(at + 1, to, "else").first() {
            Some(&other) => format!(
                "(({body}) if __aigne_truthy({}) else ({}))",
                self.or(at + 1, other),
                self.expression(other + 1, to)
            ),
            None => format!("(({body}) if __aigne_truthy({}))", self.or(at + 1, to)),
        }
    }

    /// `a or b or c`: `a || (b || c)`, each an operand (JavaScript returns the first true one,
    /// else the last).
    fn or(&self, from: usize, to: usize) -> String {
        let parts = self.parts(from, to, "or");
        let mut out = self.and(parts[parts.len() - 1].0, parts[parts.len() - 1].1);
        for &(start, end) in parts[..parts.len() - 1].iter().rev() {
            let left = self.and(start, end);
            out = format!("(({left}) if __aigne_truthy({left}) else ({out}))");
        }
        out
    }

    /// `a and b and c`: `a && (b && c)` (the first false operand, else the last).
    fn and(&self, from: usize, to: usize) -> String {
        let parts = self.parts(from, to, "and");
        let mut out = self.not(parts[parts.len() - 1].0, parts[parts.len() - 1].1);
        for &(start, end) in parts[..parts.len() - 1].iter().rev() {
            let left = self.not(start, end);
            out = format!("(({out}) if __aigne_truthy({left}) else ({left}))");
        }
        out
    }

    /// The ranges between the top-level keywords `word` of `from..to`.
    fn parts(&self, from: usize, to: usize, word: &str) -> Vec<(usize, usize)> {
        let mut parts = Vec::new();
        let mut start = from;
        for at in self.split(from, to, word) {
            parts.push((start, at));
            start = at + 1;
        }
        parts.push((start, to));
        parts
    }

    fn not(&self, from: usize, to: usize) -> String {
        if from + 1 < to && self.word(from, "not") {
            return format!("__aigne_not({})", self.not(from + 1, to));
        }
        self.operand(from, to)
    }

    /// An operand minijinja evaluates as Nunjucks does, its bracketed parts (call arguments,
    /// list items, dict values) rewritten as expressions.
    fn operand(&self, from: usize, to: usize) -> String {
        if from >= to {
            return String::new();
        }
        let mut out = String::new();
        let mut copied = self.tokens[from].start;
        let mut index = from;
        while index < to {
            let token = &self.tokens[index];
            let text = &self.code[token.start..token.end];
            if token.kind == TokenKind::Punct && matches!(text, "(" | "[" | "{") {
                // The matching closer, and the top-level `,`/`:` between.
                let mut depth = 0usize;
                let mut close = to;
                let mut separators = Vec::new();
                for inner in index + 1..to {
                    let t = &self.tokens[inner];
                    let inner_text = &self.code[t.start..t.end];
                    if t.kind != TokenKind::Punct {
                        continue;
                    }
                    match inner_text {
                        "(" | "[" | "{" => depth += 1,
                        ")" | "]" | "}" if depth == 0 => {
                            close = inner;
                            break;
                        }
                        ")" | "]" | "}" => depth -= 1,
                        "," | ":" if depth == 0 => separators.push(inner),
                        _ => {}
                    }
                }
                if close == to {
                    break;
                }
                out.push_str(&self.code[copied..token.end]);
                let mut previous_end = token.end;
                let mut start = index + 1;
                for &separator in separators.iter().chain(std::iter::once(&close)) {
                    if start < separator {
                        out.push_str(&self.code[previous_end..self.tokens[start].start]);
                        out.push_str(&self.expression(start, separator));
                        previous_end = self.tokens[separator - 1].end;
                    }
                    out.push_str(&self.code[previous_end..self.tokens[separator].end]);
                    previous_end = self.tokens[separator].end;
                    start = separator + 1;
                }
                copied = self.tokens[close].end;
                index = close + 1;
                continue;
            }
            index += 1;
        }
        out.push_str(&self.code[copied..self.tokens[to - 1].end]);
        out
    }
}

/// Nunjucks compiles a template to JavaScript, and minijinja reads three things otherwise:
/// - `==`/`!=` are JavaScript's loose equality (`1 == '1'`, `null == undefined`, `[1, 2] ==
///   '1,2'`; objects by identity), evaluated with JavaScript's precedence (the compiled
///   comparison has no parentheses, so `not a == b` is `(!a) == b`). Each comparison becomes
///   `__aigne_eq(LEFT, RIGHT)` (`__aigne_ne`), its operands as far as JavaScript's `==` reaches:
///   arithmetic, filters, attribute and item lookups, calls and relational operators, a leading
///   `not` (`__aigne_not`, JavaScript's truthiness); not `and`, `or`, `in`, `is`, the inline `if`
///   and `else`, commas and colons.
/// - A dict key written bare (`{mode: "fast"}`) is the text `mode` (minijinja reads a variable).
/// - A word starting with a digit that is no integer (`1e3`, `2nd`) is a variable name to
///   Nunjucks' lexer (minijinja reads `1e3` as a number): `__aigne_lookup("1e3")`. (As the
///   target of a `set` it is left alone: minijinja cannot name a variable so, and says so.)
///
/// `statement`: the code of a `{% … %}` block, whose first word is the tag name.
fn rewrite_code(code: &str, statement: bool) -> String {
    let tokens = tokenize(code);
    let mut out = String::with_capacity(code.len());
    let mut copied = 0;
    let mut brackets: Vec<&str> = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        let text = &code[token.start..token.end];
        let previous = index
            .checked_sub(1)
            .map(|i| &code[tokens[i].start..tokens[i].end]);
        let next = tokens.get(index + 1).map(|t| &code[t.start..t.end]);
        match token.kind {
            TokenKind::Punct if matches!(text, "(" | "[" | "{") => brackets.push(text),
            TokenKind::Punct if matches!(text, ")" | "]" | "}") => {
                brackets.pop();
            }
            TokenKind::Word
                if text.starts_with(|c: char| c.is_ascii_digit())
                    && !text.bytes().all(|b| b.is_ascii_digit())
                    && previous != Some(".")
                    && next != Some("=") =>
            {
                out.push_str(&code[copied..token.start]);
                out.push_str(&format!("__aigne_lookup(\"{text}\")"));
                copied = token.end;
            }
            TokenKind::Word
                if brackets.last() == Some(&"{")
                    && matches!(previous, Some("{" | ","))
                    && next == Some(":")
                    && !matches!(text, "true" | "false" | "none" | "null") =>
            {
                out.push_str(&code[copied..token.start]);
                out.push_str(&format!("\"{text}\""));
                copied = token.end;
            }
            _ => {}
        }
    }
    out.push_str(&code[copied..]);
    let mut code = out;
    // One comparison at a time, leftmost first (`a == b == c` is `(a == b) == c`).
    loop {
        let tokens = tokenize(&code);
        let Some(at) = tokens.iter().position(|token| {
            token.kind == TokenKind::Punct && matches!(&code[token.start..token.end], "==" | "!=")
        }) else {
            break;
        };
        let Some(rewritten) = rewrite_comparison(&code, &tokens, at, statement) else {
            break;
        };
        code = rewritten;
    }
    code
}

/// Whether a token ends an operand of `==` (JavaScript binds `==` tighter than what Nunjucks
/// compiles these to).
fn ends_operand(text: &str, kind: TokenKind) -> bool {
    match kind {
        TokenKind::Word => matches!(text, "and" | "or" | "if" | "else" | "in" | "is" | "elif"),
        TokenKind::Punct => matches!(text, "," | ":" | "=" | "?" | "==" | "!=" | "===" | "!=="),
        TokenKind::Text => false,
    }
}

/// `code` with the comparison at token `at` rewritten as a call, or `None` when an operand is
/// missing (the syntax error is left to minijinja).
fn rewrite_comparison(code: &str, tokens: &[Token], at: usize, statement: bool) -> Option<String> {
    let text = |token: &Token| &code[token.start..token.end];
    // The left operand: back to the enclosing bracket or a token that ends it.
    let mut first = at;
    let mut depth = 0usize;
    for index in (0..at).rev() {
        let token = &tokens[index];
        let word = text(token);
        if statement && index == 0 && token.kind == TokenKind::Word {
            break;
        }
        if token.kind == TokenKind::Punct && matches!(word, ")" | "]" | "}") {
            depth += 1;
        } else if token.kind == TokenKind::Punct && matches!(word, "(" | "[" | "{") {
            if depth == 0 {
                break;
            }
            depth -= 1;
        } else if depth == 0 && ends_operand(word, token.kind) {
            break;
        }
        first = index;
    }
    // The right operand: on to the enclosing bracket or a token that ends it (`not` too).
    let mut last = at;
    let mut depth = 0usize;
    for (index, token) in tokens.iter().enumerate().skip(at + 1) {
        let word = text(token);
        if token.kind == TokenKind::Punct && matches!(word, "(" | "[" | "{") {
            depth += 1;
        } else if token.kind == TokenKind::Punct && matches!(word, ")" | "]" | "}") {
            if depth == 0 {
                break;
            }
            depth -= 1;
        } else if depth == 0 && (ends_operand(word, token.kind) || word == "not") {
            break;
        }
        last = index;
    }
    if first == at || last == at {
        return None;
    }
    // Leading `not`s of the left operand apply to it alone, with JavaScript's truthiness.
    let mut nots = 0;
    let mut left_start = first;
    while left_start < at - 1 && text(&tokens[left_start]) == "not" {
        nots += 1;
        left_start += 1;
    }
    let left = &code[tokens[left_start].start..tokens[at - 1].end];
    let right = &code[tokens[at + 1].start..tokens[last].end];
    let function = if text(&tokens[at]) == "==" {
        "__aigne_eq"
    } else {
        "__aigne_ne"
    };
    Some(format!(
        "{}{function}({}{left}{}, {right}){}",
        &code[..tokens[first].start],
        "__aigne_not(".repeat(nots),
        ")".repeat(nots),
        &code[tokens[last].end..]
    ))
}

/// A template value as JavaScript sees it in Nunjucks' compiled code.
enum JsValue {
    Nullish,
    Bool(bool),
    Number(f64),
    Text(String),
    /// An array or object (compared by identity; `String()` of it otherwise).
    Object(TemplateValue),
}

fn js_value(value: &TemplateValue) -> JsValue {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => JsValue::Nullish,
        ValueKind::Bool => JsValue::Bool(value.is_true()),
        ValueKind::Number => JsValue::Number(f64::try_from(value.clone()).unwrap_or(f64::NAN)),
        ValueKind::String => JsValue::Text(value.as_str().unwrap_or_default().to_owned()),
        _ => JsValue::Object(value.clone()),
    }
}

/// JavaScript's `a == b` (IsLooselyEqual) over template values.
fn js_loose_equal(left: &TemplateValue, right: &TemplateValue) -> bool {
    loose_equal(js_value(left), js_value(right))
}

fn loose_equal(left: JsValue, right: JsValue) -> bool {
    use JsValue::{Bool, Nullish, Number, Object, Text};
    match (left, right) {
        (Nullish, Nullish) => true,
        (Nullish, _) | (_, Nullish) => false,
        (Number(a), Number(b)) => a == b,
        (Text(a), Text(b)) => a == b,
        (Bool(a), Bool(b)) => a == b,
        (Object(a), Object(b)) => minijinja::tests::is_sameas(&a, &b),
        (Number(a), Text(b)) => a == js_to_number(&b),
        (Text(a), Number(b)) => js_to_number(&a) == b,
        (Bool(a), other) => loose_equal(Number(f64::from(u8::from(a))), other),
        (other, Bool(b)) => loose_equal(other, Number(f64::from(u8::from(b)))),
        (Object(a), other) => loose_equal(Text(js_primitive(&a)), other),
        (other, Object(b)) => loose_equal(other, Text(js_primitive(&b))),
    }
}

/// `String(value)` of an array or object (`ToPrimitive`): items joined by commas, an object
/// `[object Object]`.
fn js_primitive(value: &TemplateValue) -> String {
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => to_json(value)
            .map(|json| js_string(&json))
            .unwrap_or_default(),
        _ => "[object Object]".to_owned(),
    }
}

/// JavaScript's `Number(text)` (StringToNumber): surrounding white space ignored, empty is 0,
/// `0x`/`0o`/`0b` integers, `Infinity` with a sign, decimal literals; anything else NaN.
fn js_to_number(text: &str) -> f64 {
    // JavaScript's white space and line terminators: Unicode's, less U+0085, plus U+FEFF.
    let trimmed =
        text.trim_matches(|c: char| (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}');
    if trimmed.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = trimmed.strip_prefix(prefix) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            return digits.chars().fold(0.0, |total, c| {
                total * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
            });
        }
    }
    let unsigned = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if unsigned == "Infinity" {
        return if trimmed.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    // StrDecimalLiteral: digits with an optional fraction (`1.`, `.5`) and exponent.
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return f64::NAN;
    }
    trimmed.parse::<f64>().unwrap_or(f64::NAN)
}

/// JavaScript's truthiness (`!value`): arrays and objects are true even when empty.
fn js_truthy(value: &TemplateValue) -> bool {
    match js_value(value) {
        JsValue::Nullish => false,
        JsValue::Bool(flag) => flag,
        JsValue::Number(number) => number != 0.0 && !number.is_nan(),
        JsValue::Text(text) => !text.is_empty(),
        JsValue::Object(_) => true,
    }
}

/// `value.length` as JavaScript reads it: an array's item count, a string's length in UTF-16
/// units, an object's `length` key; undefined for anything else.
fn js_length(value: TemplateValue) -> TemplateValue {
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => value
            .len()
            .map_or(TemplateValue::UNDEFINED, TemplateValue::from),
        ValueKind::String => value.as_str().map_or(TemplateValue::UNDEFINED, |text| {
            TemplateValue::from(text.encode_utf16().count())
        }),
        ValueKind::Map => value.get_attr("length").unwrap_or(TemplateValue::UNDEFINED),
        _ => TemplateValue::UNDEFINED,
    }
}

/// Nunjucks' `join(array, separator = "", attribute?)`: JavaScript's `Array.join`, which prints
/// each item as `String(item)` does (`null` as nothing, an object as `[object Object]`, an array
/// joined by commas). Anything but an array is Nunjucks' TypeError.
fn js_join(
    value: TemplateValue,
    separator: Option<TemplateValue>,
    attribute: Option<TemplateValue>,
) -> Result<String, TemplateError> {
    if !matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
        let what = match value.kind() {
            ValueKind::Undefined => "Cannot read properties of undefined (reading 'join')",
            ValueKind::None => "Cannot read properties of null (reading 'join')",
            _ => "arr.join is not a function",
        };
        return Err(TemplateError::new(ErrorKind::InvalidOperation, what));
    }
    let separator = match &separator {
        Some(separator) if !separator.is_undefined() && !separator.is_none() => {
            match separator.as_str() {
                Some(text) => text.to_owned(),
                None => js_string(&to_json(separator)?),
            }
        }
        _ => String::new(),
    };
    let mut parts = Vec::new();
    for item in value.try_iter()? {
        let item = match &attribute {
            Some(attribute) if attribute.is_true() => item.get_item(attribute)?,
            _ => item,
        };
        parts.push(match item.kind() {
            ValueKind::Undefined | ValueKind::None => String::new(),
            _ => js_string(&to_json(&item)?),
        });
    }
    Ok(parts.join(&separator))
}

/// Whether the native renderer runs a template construct as Nunjucks does (`tag NAME`,
/// `filter NAME`, `variable $NAME`, `method call .NAME()`, as `project::Feature::TemplateSyntax`
/// names them): AIGNE's filters, Nunjucks' async tags and the tags and filters minijinja
/// shares with Nunjucks. Everything else (`tson.stringify`, `$afs`, JavaScript method calls,
/// Nunjucks-only filters) is left to the node engine.
pub fn supports(construct: &str) -> bool {
    const TAGS: &[&str] = &[
        "ifAsync",
        "elseif",
        "asyncEach",
        "endeach",
        "asyncAll",
        "endall",
        "raw",
        "endraw",
        "macro",
        "endmacro",
        "call",
        "endcall",
        "filter",
        "endfilter",
        "import",
        "from",
        "extends",
        "block",
        "endblock",
    ];
    const FILTERS: &[&str] = &[
        "yaml.stringify",
        "json.stringify",
        "dump",
        "abs",
        "batch",
        "capitalize",
        "default",
        "d",
        "dictsort",
        "escape",
        "e",
        "first",
        "float",
        "indent",
        "int",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "reject",
        "rejectattr",
        "replace",
        "reverse",
        "round",
        "safe",
        "select",
        "selectattr",
        "slice",
        "sort",
        "string",
        "sum",
        "title",
        "trim",
        "upper",
        "urlencode",
        "items",
    ];
    // Rewritten to what Nunjucks reads (`rewrite_code`).
    if matches!(
        construct,
        "loose comparison" | "dict literal with a bare key"
    ) {
        return true;
    }
    if let Some(tag) = construct.strip_prefix("tag ") {
        return TAGS.contains(&tag);
    }
    if let Some(filter) = construct.strip_prefix("filter ") {
        return FILTERS.contains(&filter);
    }
    false
}

/// Renders `source` (which came from `path`) with `variables`; included files are read through
/// `files` (inside the project, regular, capped).
pub fn render(
    source: &str,
    path: &Path,
    variables: &Value,
    files: &FileAccess,
) -> Result<String, RenderError> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Chainable);
    environment.set_keep_trailing_newline(true);
    environment.set_auto_escape_callback(|_| AutoEscape::None);
    environment.set_formatter(format_value);
    environment.set_path_join_callback(|name, parent| {
        let name_path = Path::new(name);
        if name_path.is_absolute() {
            return name.to_owned().into();
        }
        let base = Path::new(parent).parent().unwrap_or(Path::new("."));
        base.join(name_path).to_string_lossy().into_owned().into()
    });
    set_confined_loader(&mut environment, files.clone());
    environment.add_filter(
        "yaml_stringify",
        |value: TemplateValue| -> Result<String, TemplateError> {
            let json = to_json(&value)?;
            Ok(to_yaml_string(&json))
        },
    );
    environment.add_filter(
        "tson_stringify",
        |_value: TemplateValue| -> Result<String, TemplateError> {
            Err(TemplateError::new(
                ErrorKind::InvalidOperation,
                "the `tson.stringify` filter is not supported by the native engine",
            ))
        },
    );
    environment.add_filter("json_stringify", json_stringify);
    environment.add_filter("dump", dump);
    environment.add_filter("js_length", js_length);
    environment.add_filter("join", js_join);
    // What `rewrite_code` rewrites Nunjucks' readings to.
    environment.add_function("__aigne_eq", |left: TemplateValue, right: TemplateValue| {
        js_loose_equal(&left, &right)
    });
    environment.add_function("__aigne_ne", |left: TemplateValue, right: TemplateValue| {
        !js_loose_equal(&left, &right)
    });
    environment.add_function("__aigne_not", |value: TemplateValue| !js_truthy(&value));
    environment.add_function("__aigne_truthy", |value: TemplateValue| js_truthy(&value));
    environment.add_function(
        "__aigne_lookup",
        |state: &minijinja::State<'_, '_>, name: &str| {
            state.lookup(name).unwrap_or(TemplateValue::UNDEFINED)
        },
    );
    // Nunjucks reads `null` as a literal (minijinja knows only `none`).
    environment.add_global("null", TemplateValue::from(()));
    let name = path.to_string_lossy().into_owned();
    let source = preprocess(source);
    let error = |error: TemplateError| RenderError {
        path: error
            .name()
            .map(PathBuf::from)
            .unwrap_or_else(|| path.to_path_buf()),
        line: error.line(),
        message: describe(&error),
    };
    let template = environment
        .template_from_named_str(&name, &source)
        .map_err(error)?;
    let rendered = template.render(variables).map_err(error)?;
    if rendered.is_empty() {
        return Err(RenderError {
            path: path.to_path_buf(),
            line: None,
            message: format!("Failed to render template: {}", excerpt(source.as_str())),
        });
    }
    Ok(rendered)
}

/// The trust boundary of templates: an included file is read only through `files`, so it
/// resolves (symlinks followed) inside the project or an `--allow-read` folder and is a regular
/// file within the size cap. The error names the target; minijinja adds the including file and
/// line.
fn set_confined_loader(environment: &mut Environment<'_>, files: FileAccess) {
    environment.set_loader(
        move |name| match files.read_text_unlocated(Path::new(name)) {
            Ok(text) => Ok(Some(preprocess(&text))),
            // A missing file keeps minijinja's "non-existing template" handling
            // (`ignore missing`); every other problem stops the render.
            Err(crate::project::FileProblem::Io(error))
                if error.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(problem) => Err(TemplateError::new(
                ErrorKind::InvalidOperation,
                format!("`{name}` {problem}"),
            )),
        },
    );
}

fn excerpt(text: &str) -> String {
    let mut short: String = text.chars().take(80).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

fn describe(error: &TemplateError) -> String {
    let mut message = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}

fn to_json(value: &TemplateValue) -> Result<Value, TemplateError> {
    serde_json::to_value(value).map_err(|error| {
        TemplateError::new(
            ErrorKind::InvalidOperation,
            format!("cannot serialise value: {error}"),
        )
    })
}

/// `json.stringify(value, replacer?, indent?)`: `JSON.stringify` with an optional indent.
fn json_stringify(
    value: TemplateValue,
    args: minijinja::value::Rest<TemplateValue>,
) -> Result<String, TemplateError> {
    if value.is_undefined() {
        // JSON.stringify(undefined) is undefined, which renders as empty.
        return Ok(String::new());
    }
    let json = to_json(&value)?;
    let indent = args.get(1).and_then(|indent| {
        if let Ok(count) = i64::try_from(indent.clone()) {
            Some(" ".repeat(count.clamp(0, 10) as usize))
        } else {
            indent.as_str().map(|s| s.chars().take(10).collect())
        }
    });
    Ok(match indent {
        Some(indent) if !indent.is_empty() => js_pretty(&json, &indent),
        _ => js_compact(&json),
    })
}

/// Nunjucks' `dump(value, spaces?)`: `JSON.stringify(value, null, spaces)`.
fn dump(value: TemplateValue, spaces: Option<TemplateValue>) -> Result<String, TemplateError> {
    let mut args = vec![TemplateValue::from(())];
    args.extend(spaces);
    json_stringify(value, minijinja::value::Rest(args))
}

/// `JSON.stringify(value)`.
pub fn js_compact(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, None, 0, &mut out);
    out
}

/// `JSON.stringify(value, null, indent)`.
pub fn js_pretty(value: &Value, indent: &str) -> String {
    let mut out = String::new();
    write_json(value, Some(indent), 0, &mut out);
    out
}

fn write_json(value: &Value, indent: Option<&str>, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(indent) = indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(indent);
            }
        }
    };
    match value {
        Value::Number(number) => out.push_str(&js_number(number)),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A number as JavaScript prints it (`1.0` → `1`, `1e21` → `1e+21`).
pub fn js_number(number: &serde_json::Number) -> String {
    crate::zod::js_json_number(number)
}

fn format_value(
    out: &mut minijinja::Output<'_>,
    _state: &minijinja::State<'_, '_>,
    value: &TemplateValue,
) -> Result<(), TemplateError> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(()),
        ValueKind::Map | ValueKind::Seq | ValueKind::Iterable | ValueKind::Plain => {
            let json = to_json(value)?;
            write_str(out, &js_compact(&json))
        }
        ValueKind::Bool => write_str(out, if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let json = to_json(value)?;
            match json {
                Value::Number(number) => write_str(out, &js_number(&number)),
                other => write_str(out, &other.to_string()),
            }
        }
        _ => {
            if let Some(text) = value.as_str() {
                write_str(out, text)
            } else {
                write_str(out, &value.to_string())
            }
        }
    }
}

fn write_str(out: &mut minijinja::Output<'_>, text: &str) -> Result<(), TemplateError> {
    out.write_str(text)
        .map_err(|error| TemplateError::new(ErrorKind::WriteFailure, error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::LoadSettings;
    use serde_json::json;

    fn render_str(source: &str, variables: Value) -> Result<String, RenderError> {
        let files = FileAccess::new(&std::env::temp_dir(), &LoadSettings::default()).unwrap();
        render(source, Path::new("/nowhere/agent.yaml"), &variables, &files)
    }

    /// As the official runtime's Nunjucks renders them (checked with `PromptTemplate.format`).
    #[test]
    fn null_literal_and_javascript_join() {
        let variables =
            json!({"tags": ["a", null, 1, [2, 3], true, 0.5], "items": [{"a": 1}, {"b": 2}]});
        assert_eq!(
            render_str(
                "[{{ null }}][{{ null | dump }}][{{ none | dump }}][{{ tags | join(',') }}][{{ tags | join }}][{{ items | join('-') }}][{{ items | join('-', 'a') }}]",
                variables
            )
            .unwrap(),
            "[][null][null][a,,1,2,3,true,0.5][a12,3true0.5][[object Object]-[object Object]][1-]"
        );
        let error = render_str("{{ missing | join(',') }}", json!({})).unwrap_err();
        assert!(
            error.message.contains("reading 'join'"),
            "{}",
            error.message
        );
    }

    /// Loose equality with JavaScript's precedence, bare dict keys and names starting with a
    /// digit, as the official runtime's Nunjucks renders them (each expected text is what
    /// `PromptTemplate.format` of `@aigne/core`, `@aigne/cli` 1.59.0, gave).
    #[test]
    fn nunjucks_readings_of_comparisons_keys_and_digit_names() {
        for (source, variables, expected) in [
            (
                "{{ 1 + 1 == 2 }} {{ a == 1 and b == '1' }} {{ not a == 2 }} {{ a == 1 == true }} {{ [1] == 1 }} {{ a|string == '1' }}",
                json!({"a": 1, "b": "1"}),
                "true true false true true true",
            ),
            (
                "{{ 'x' if a == '1' else 'y' }} {{ u == u2 }} {{ n == 0 }} {{ '1.0' == 1 }} {{ ' 0x10 ' == 16 }}",
                json!({"a": 1, "n": null}),
                "x true false true true",
            ),
            (
                "{% if not items == false %}A{% endif %}{% if not e == true %}B{% endif %}{% if not not items == true %}C{% endif %}",
                json!({"items": [], "e": {}}),
                "AC",
            ),
            (
                "{% if items.length == '2' %}len{% endif %} {{ (a + 1) == '2' }} {{ a * 2 != '2' }} {{ a < 2 == true }} {{ a ~ 'x' == '1x' }}",
                json!({"items": [1, 2], "a": 1}),
                "len true false true true",
            ),
            (
                "{{ o == o }} {{ o == p }} {{ o.x == p.x }} {{ l == l }} {{ l == '1,2' }} {{ o != p }}",
                json!({"o": {"x": 1}, "p": {"x": 1}, "l": [1, 2]}),
                "true false true true true true",
            ),
            (
                "{% for x in xs %}{% if x.v == '1' or x.v == true %}[{{ loop.index }}]{% endif %}{% endfor %}",
                json!({"xs": [{"v": 1}, {"v": "1"}, {"v": true}, {"v": 2}, {}]}),
                "[1][2][3]",
            ),
            (
                "{{ [1, 2] | join(',') == '1,2' }} {{ (a == '1') == true }} {{ mode == \"draft\" }}",
                json!({"a": 1, "mode": ["draft"]}),
                "true true true",
            ),
        ] {
            assert_eq!(render_str(source, variables).unwrap(), expected, "{source}");
        }
    }

    /// JavaScript's truthiness (an empty array or object is true) and `and`/`or` returning an
    /// operand, as the official runtime's Nunjucks renders them (`PromptTemplate.format`).
    #[test]
    fn conditions_and_logic_as_javascript() {
        for (source, variables, expected) in [
            (
                "{% if items %}yes{% else %}no{% endif %}|{% if o %}yes{% else %}no{% endif %}|{% if not items %}N{% endif %}|{{ 'a' if items else 'b' }}|{{ items and 'x' }}|{{ items or 'dflt' }}|{% for x in items %}{% else %}empty{% endfor %}|{{ items | default('d') }}",
                json!({"items": [], "o": {}}),
                "yes|yes||a|x|[]|empty|[]",
            ),
            (
                "{{ a or b or c }}|{{ a and b and c }}|{{ x and y or z }}|{{ not a and b }}|{{ not (a or b) }}|{{ e or [] }}|{{ (e or {}) | dump }}",
                json!({"a": 0, "b": "", "c": "C", "x": [], "y": 0, "z": "Z", "e": null}),
                "C|0|Z||true|[]|{}",
            ),
            (
                "{% set v = items or ['none'] %}{{ v | join(',') }}|{% for i in list or [7] %}{{ i }}{% endfor %}|{% if items.length %}L{% else %}nolen{% endif %}|{% if items and items.length > 0 %}has{% else %}none{% endif %}",
                json!({"items": []}),
                "|7|nolen|none",
            ),
            (
                "{{ f | default(a or 'x') }}|{{ [a or 1, b and 2] | dump }}|{{ {k: a or 'v'} | dump }}|{% if (o) %}P{% endif %}",
                json!({"a": 0, "b": 1, "o": {}}),
                "x|[1,2]|{\"k\":\"v\"}|P",
            ),
            (
                "{% if x is defined and x %}d{% endif %}|{% if y is not defined or not y %}u{% endif %}|{% if 'a' in s and not 'z' in s %}in{% endif %}|{% if x not in [1] %}ni{% endif %}",
                json!({"x": [], "s": "abc"}),
                "d|u|in|ni",
            ),
            (
                "{% if mode == 'draft' or items %}A{% endif %}{% if not count == 0 %}B{% endif %}{% if count == 0 and not items %}C{% endif %}",
                json!({"mode": "x", "items": [], "count": 0}),
                "A",
            ),
        ] {
            assert_eq!(render_str(source, variables).unwrap(), expected, "{source}");
        }
    }

    /// `{{ a == b }}` for every pair of these values (and `undefined`): row by row, `1` where
    /// the official runtime's Nunjucks printed `true`.
    #[test]
    fn loose_equality_as_javascript() {
        let values: Vec<Value> = serde_json::from_str("[1, \"1\", 0, \"\", \" \", \"0\", null, true, false, [1, 2], \"1,2\", [], {}, \"[object Object]\", 1.5, \"1.5\", \"0x10\", 16, \" 12 \", \"1e3\", 1000, \"Infinity\", [null], [[1, 2], 3], \"1,2,3\", [1], \"abc\", [\"a\"], \"a\", 2, \"2\", {\"a\": 1}, \"\\n\\t\", \"+5\", 5, \"-0x10\", \".5\", 0.5, \"5.\", \"1_0\", \"0b11\", 3, \" 0o7\", 7]").unwrap();
        let expected = [
            "110000010000000000000000010000000000000000000",
            "110000010000000000000000010000000000000000000",
            "001111001001000000000010000000001000000000000",
            "001100001001000000000010000000000000000000000",
            "001010001000000000000000000000000000000000000",
            "001001001000000000000000000000000000000000000",
            "000000100000000000000000000000000000000000001",
            "110000010000000000000000010000000000000000000",
            "001111001001000000000010000000001000000000000",
            "000000000110000000000000000000000000000000000",
            "000000000110000000000000000000000000000000000",
            "001100001001000000000000000000000000000000000",
            "000000000000110000000000000000000000000000000",
            "000000000000110000000000000000010000000000000",
            "000000000000001100000000000000000000000000000",
            "000000000000001100000000000000000000000000000",
            "000000000000000011000000000000000000000000000",
            "000000000000000011000000000000000000000000000",
            "000000000000000000100000000000000000000000000",
            "000000000000000000011000000000000000000000000",
            "000000000000000000011000000000000000000000000",
            "000000000000000000000100000000000000000000000",
            "001100001000000000000010000000000000000000000",
            "000000000000000000000001100000000000000000000",
            "000000000000000000000001100000000000000000000",
            "110000010000000000000000010000000000000000000",
            "000000000000000000000000001000000000000000000",
            "000000000000000000000000000110000000000000000",
            "000000000000000000000000000110000000000000000",
            "000000000000000000000000000001100000000000000",
            "000000000000000000000000000001100000000000000",
            "000000000000010000000000000000010000000000000",
            "001000001000000000000000000000001000000000000",
            "000000000000000000000000000000000110000000000",
            "000000000000000000000000000000000110001000000",
            "000000000000000000000000000000000001000000000",
            "000000000000000000000000000000000000110000000",
            "000000000000000000000000000000000000110000000",
            "000000000000000000000000000000000010001000000",
            "000000000000000000000000000000000000000100000",
            "000000000000000000000000000000000000000011000",
            "000000000000000000000000000000000000000011000",
            "000000000000000000000000000000000000000000110",
            "000000000000000000000000000000000000000000110",
            "000000100000000000000000000000000000000000001",
        ];
        let count = values.len() + 1;
        let mut variables = serde_json::Map::new();
        for (index, value) in values.iter().enumerate() {
            variables.insert(format!("v{index}"), value.clone());
        }
        let mut source = String::new();
        for i in 0..count {
            for j in 0..count {
                source.push_str(&format!("{{{{ v{i} == v{j} }}}}"));
            }
            source.push('\n');
        }
        let rendered = render_str(&source, Value::Object(variables)).unwrap();
        for (i, (row, expected)) in rendered.lines().zip(expected).enumerate() {
            let row = row.replace("true", "1").replace("false", "0");
            assert_eq!(row, expected, "row {i}: {:?}", values.get(i));
        }
    }

    /// `String(x)` in node for each value.
    #[test]
    fn numbers_print_as_javascript_prints_them() {
        for (float, text) in [
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (100.0, "100"),
            (-2.5, "-2.5"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (12345.678, "12345.678"),
        ] {
            assert_eq!(crate::zod::js_float(float), text);
        }
    }

    #[test]
    fn variables_null_objects_and_numbers() {
        let variables =
            json!({"a": {"b": "x"}, "n": null, "o": {"k": [1, 2]}, "f": 1.0, "t": true});
        assert_eq!(
            render_str(
                "{{ a.b }}|{{ n }}|{{ missing.deep }}|{{ o }}|{{ f }}|{{ t }}",
                variables
            )
            .unwrap(),
            "x|||{\"k\":[1,2]}|1|true"
        );
    }

    #[test]
    fn control_flow_and_set() {
        let source = "{% set greeting = 'hi' %}{% if x > 2 %}big{% elif x > 1 %}mid{% else %}small{% endif %} {% for i in items %}{{ loop.index }}{{ i }}{% endfor %} {{ greeting }}\n";
        assert_eq!(
            render_str(source, json!({"x": 2, "items": ["a", "b"]})).unwrap(),
            "mid 1a2b hi\n"
        );
    }

    /// Objects keep their keys in input order, inside arrays too, as `JSON.stringify` prints
    /// them (checked against the official runtime).
    #[test]
    fn objects_keep_input_key_order() {
        let variables = json!({"o": {"z": 1, "a": 2}, "list": [{"b": 1, "a": {"y": 1, "x": 2}}]});
        assert_eq!(
            render_str("{{ o }} {{ list }} {{ list | json.stringify }} {% for i in list %}{{ i }}{% endfor %}", variables).unwrap(),
            r#"{"z":1,"a":2} [{"b":1,"a":{"y":1,"x":2}}] [{"b":1,"a":{"y":1,"x":2}}] {"b":1,"a":{"y":1,"x":2}}"#
        );
    }

    /// Nunjucks' async tags render as their synchronous forms (as AIGNE's Nunjucks renders
    /// them with plain values); checked against the official runtime in the corpus.
    #[test]
    fn async_tags() {
        let source = "{% ifAsync kind == 'a' %}A{% elseif kind == 'b' %}B{% else %}C{% endif %}|{%- asyncEach i in items %}{{ i }}{% endeach %}|{% asyncAll i in items %}{{ i }}{% endall %}";
        assert_eq!(
            render_str(source, json!({"kind": "b", "items": [1, 2]})).unwrap(),
            "B|12|12"
        );
        assert!(supports("tag ifAsync") && supports("filter yaml.stringify"));
        assert!(!supports("filter tson.stringify") && !supports("variable $afs"));
        assert!(!supports("method call .toUpperCase()") && !supports("filter wordcount"));
    }

    /// `.length` reads as JavaScript reads it (checked against the official runtime in the
    /// `corpus-fidelity` project); string literals, comments and raw blocks are left alone.
    #[test]
    fn javascript_length() {
        let variables =
            json!({"items": [{"a": 1}, {"b": 2}], "name": "Adé", "obj": {"length": 7}, "n": 3});
        let source = "{{ items.length }} {{ name.length }} {{ obj.length }} [{{ n.length }}] [{{ missing.length }}] \
            {% if items.length > 1 %}many{% endif %} {{ items[0].a + items.length }} {{ 'x.length' }} \
            {# y.length #}{% raw %}{{ z.length }}{% endraw %} {{ items.lengthy }}\
            {% for i in items %}{{ loop.length }}{% endfor %}";
        assert_eq!(
            render_str(source, variables).unwrap(),
            "2 3 7 [] [] many 3 x.length {{ z.length }} 22"
        );
    }

    #[test]
    fn dump_takes_nunjucks_spaces() {
        let variables = json!({"o": {"z": 1, "a": [1]}});
        assert_eq!(
            render_str("{{ o | dump }}|{{ o | dump(2) }}", variables).unwrap(),
            "{\"z\":1,\"a\":[1]}|{\n  \"z\": 1,\n  \"a\": [\n    1\n  ]\n}"
        );
    }

    #[test]
    fn no_html_escaping() {
        assert_eq!(render_str("{{ s }}", json!({"s": "<b>&"})).unwrap(), "<b>&");
    }

    #[test]
    fn dotted_filters() {
        let variables = json!({"o": {"a": 1, "b": ["x", "y"]}});
        assert_eq!(
            render_str("{{ o | yaml.stringify }}", variables.clone()).unwrap(),
            "a: 1\nb:\n  - x\n  - y\n"
        );
        assert_eq!(
            render_str("{{ o | json.stringify }}", variables.clone()).unwrap(),
            "{\"a\":1,\"b\":[\"x\",\"y\"]}"
        );
        assert_eq!(
            render_str("{{ o|json.stringify(null, 2) }}", variables).unwrap(),
            "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    \"y\"\n  ]\n}"
        );
    }

    #[test]
    fn empty_render_is_an_error() {
        let error = render_str("{{ nothing }}", json!({})).unwrap_err();
        assert!(
            error.message.starts_with("Failed to render template"),
            "{error:?}"
        );
    }

    #[test]
    fn include_is_relative_to_the_including_file() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("prompts/nested")).unwrap();
        fs_err::write(
            dir.path().join("prompts/a.md"),
            "A {% include \"./nested/b.md\" %}",
        )
        .unwrap();
        fs_err::write(
            dir.path().join("prompts/nested/b.md"),
            "B {{ x }} {% include \"c.md\" %}",
        )
        .unwrap();
        fs_err::write(dir.path().join("prompts/nested/c.md"), "C").unwrap();
        let agent = dir.path().join("agent.yaml");
        let files = FileAccess::new(dir.path(), &LoadSettings::default()).unwrap();
        let rendered = render(
            "{% include \"prompts/a.md\" %}!",
            &agent,
            &json!({"x": 1}),
            &files,
        )
        .unwrap();
        assert_eq!(rendered, "A B 1 C!");
    }

    #[test]
    fn includes_computed_at_render_time_stay_inside_the_project() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("project");
        fs_err::create_dir_all(&root).unwrap();
        fs_err::write(outer.path().join("secret.txt"), "SECRET").unwrap();
        let files = FileAccess::new(&root, &LoadSettings::default()).unwrap();
        let error = render(
            "line 1\n{% include name %}",
            &root.join("agent.yaml"),
            &json!({"name": "../secret.txt"}),
            &files,
        )
        .unwrap_err();
        assert!(
            error.message.contains("outside the project folder"),
            "{error:?}"
        );
        assert_eq!(error.line, Some(2));
        assert!(!error.message.contains("SECRET"));
        let error = render(
            "{% include name %}",
            &root.join("agent.yaml"),
            &json!({"name": "/dev/zero"}),
            &files,
        )
        .unwrap_err();
        assert!(error.message.contains("/dev/zero"), "{error:?}");
    }

    #[test]
    fn missing_include_names_the_file() {
        let error = render_str("{% include \"nope.md\" %}", json!({})).unwrap_err();
        assert!(error.message.contains("nope.md"), "{error:?}");
    }
}
