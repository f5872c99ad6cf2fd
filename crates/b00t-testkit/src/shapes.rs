//! The JSON bodies Ollama sends, built the way its API documents them
//! (https://github.com/ollama/ollama/blob/main/docs/api.md): the `/api/tags` model list,
//! a `/api/chat` reply whole or as an NDJSON stream, and `{"error": …}`.

use std::time::SystemTime;

use serde_json::{json, Value};

/// The model a fake lists when none is given: the one Ollama's docs use.
pub const DEFAULT_MODEL: &str = "llama3.2:latest";

/// `{"models": [...]}` for `GET /api/tags`.
pub(crate) fn tags(models: &[String]) -> Value {
    let models: Vec<Value> = models
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let family = name
                .split(|c: char| c == ':' || c.is_ascii_digit())
                .next()
                .filter(|f| !f.is_empty())
                .unwrap_or("llama");
            json!({
                "name": name,
                "model": name,
                "modified_at": "2024-10-01T12:00:00.000000000Z",
                "size": 2_019_393_189u64 + i as u64,
                "digest": digest(name),
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": family,
                    "families": [family],
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                },
            })
        })
        .collect();
    json!({ "models": models })
}

/// 64 hex digits derived from `name`, in the shape of Ollama's sha256 digests.
fn digest(name: &str) -> String {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    (0..4)
        .map(|round| {
            for byte in name.bytes().chain([round]) {
                state = (state ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            format!("{state:016x}")
        })
        .collect()
}

/// The assistant's message: text, or tool calls with an empty content.
pub(crate) fn message(content: &str, tool_calls: &[(String, Value)]) -> Value {
    let mut message = json!({"role": "assistant", "content": content});
    if !tool_calls.is_empty() {
        message["tool_calls"] = tool_calls
            .iter()
            .map(|(name, arguments)| json!({"function": {"name": name, "arguments": arguments}}))
            .collect();
    }
    message
}

/// The final object of a chat: the message, `done: true` and the timing statistics.
pub(crate) fn chat_done(
    model: &str,
    message: Value,
    done_reason: &str,
    prompt_chars: usize,
) -> Value {
    let prompt_eval_count = (prompt_chars / 4).max(1) as u64;
    let eval_count = (message["content"].as_str().map_or(0, str::len) / 4).max(1) as u64;
    json!({
        "model": model,
        "created_at": now(),
        "message": message,
        "done_reason": done_reason,
        "done": true,
        "total_duration": 885_095_291u64,
        "load_duration": 3_753_500u64,
        "prompt_eval_count": prompt_eval_count,
        "prompt_eval_duration": 328_493_000u64,
        "eval_count": eval_count,
        "eval_duration": 552_222_000u64,
    })
}

/// One object of a stream before the last: a piece of the message, `done: false`.
pub(crate) fn chat_chunk(model: &str, message: Value) -> Value {
    json!({
        "model": model,
        "created_at": now(),
        "message": message,
        "done": false,
    })
}

/// The NDJSON stream of a chat: the content in word-sized pieces (tool calls in a piece of
/// their own, as Ollama sends them), then a final object with an empty content.
pub(crate) fn chat_stream(
    model: &str,
    content: &str,
    tool_calls: &[(String, Value)],
    prompt_chars: usize,
) -> Vec<u8> {
    let mut lines = Vec::new();
    for piece in content.split_inclusive(' ') {
        lines.push(chat_chunk(model, message(piece, &[])));
    }
    if !tool_calls.is_empty() {
        lines.push(chat_chunk(model, message("", tool_calls)));
    }
    let mut last = chat_done(model, message("", &[]), "stop", prompt_chars);
    last["eval_count"] = json!(lines.len().max(1));
    lines.push(last);
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// `{"error": message}`, Ollama's error body.
pub(crate) fn error(message: &str) -> Value {
    json!({ "error": message })
}

fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_ends_with_one_done_object() {
        let stream = chat_stream("m", "hello there world", &[], 10);
        let lines: Vec<Value> = stream
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let text: String = lines
            .iter()
            .map(|l| l["message"]["content"].as_str().unwrap())
            .collect();
        assert_eq!(text, "hello there world");
        assert!(lines[..lines.len() - 1].iter().all(|l| l["done"] == false));
        assert_eq!(lines.last().unwrap()["done"], true);
        assert_eq!(lines.last().unwrap()["done_reason"], "stop");
    }
}
