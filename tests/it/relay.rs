//! The Ollama relay with a real container in front of it (Docker): the group's assistant
//! chats through it with the credentials in its Ollama URL, while a client without them,
//! or asking for anything but chat, tags and show, is refused before the fake Ollama.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use base64::prelude::{Engine as _, BASE64_STANDARD};

use crate::assistant::{docker_or_skip, Ollama};
use crate::containers::Cleanup;
use crate::support::{b00t_bin, free_port, json, publish, Home, Runtime, Sub};

/// `METHOD PATH` to the relay at `addr` with `authorization`; the status and the body.
fn ask(addr: &str, method: &str, path: &str, authorization: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let authorization = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let body = r#"{"model":"llama3.2"}"#;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: host.docker.internal\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

#[test]
fn a_container_chats_through_the_relay_and_nothing_else_gets_through() {
    if !docker_or_skip("a_container_chats_through_the_relay_and_nothing_else_gets_through") {
        return;
    }
    let ollama = Ollama::start();
    let home = Home::new(&format!(
        "[agents]\necho = false\n[assistant]\nollama_url = \"{}\"\n",
        ollama.fake.url()
    ));
    let added = Command::new(b00t_bin())
        .args(["group", "add", "family", "--home"])
        .arg(home.path())
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let _cleanup = Cleanup(b00t_container::home_id(home.path()));
    let port = free_port();
    let mut up = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("CONTAINER_RUNTIME", "docker")],
    );
    // "Ollama relay for containers listening addr=172.17.0.1:40637 target=127.0.0.1:…"
    let needle = "Ollama relay for containers listening";
    if !up.log.iter().any(|l| l.contains(needle)) {
        up.wait_for_line(needle);
    }
    let line = up.log.iter().find(|l| l.contains(needle)).unwrap();
    let relay = line
        .split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line}"))
        .to_owned();
    assert!(!relay.starts_with("127."), "on the bridge only: {relay}");

    // The container's assistant reaches the fake Ollama through the relay.
    let mut sub = Sub::start(port, "b00t.family.chat/result");
    publish(
        port,
        "b00t.family.chat/task",
        r#"{"id":"r-1","body":{"text":"hello relay"}}"#,
    );
    let result = json(&sub.wait_cold("b00t.family.chat/result", "\"r-1\"").payload);
    assert_eq!(result["type"], "result", "{result}");
    let chats = ollama.requests().len();
    assert!(chats >= 1, "the chat reached Ollama");

    let passwords =
        json(&std::fs::read_to_string(home.path().join("state/agents.credentials")).unwrap());
    let password = passwords["family"].as_str().unwrap();
    let valid = format!(
        "Basic {}",
        BASE64_STANDARD.encode(format!("family:{password}"))
    );
    let wrong = format!("Basic {}", BASE64_STANDARD.encode("family:guess"));

    assert_eq!(ask(&relay, "GET", "/api/tags", None).0, 401);
    assert_eq!(ask(&relay, "GET", "/api/tags", Some(&wrong)).0, 401);
    for (method, path) in [
        ("DELETE", "/api/delete"),
        ("POST", "/api/pull"),
        ("POST", "/api/create"),
        ("POST", "/api/copy"),
        ("POST", "/api/push"),
    ] {
        let (status, body) = ask(&relay, method, path, Some(&valid));
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(body.contains(path), "{body}");
    }
    let (status, body) = ask(&relay, "GET", "/api/tags", Some(&valid));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("llama3.2"), "{body}");
    assert_eq!(
        ollama.requests().len(),
        chats,
        "no other chat reached Ollama"
    );
}
