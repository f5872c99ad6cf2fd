//! Calls to the stand-in: one Bot API method with a JSON body, its envelope back.

use b00t_testkit::telegram::FakeTelegram;
use serde_json::Value;

pub(crate) const TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

/// POSTs `body` as JSON to `method` and returns the HTTP status and the parsed answer.
pub(crate) async fn call(fake: &FakeTelegram, method: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/{method}", fake.url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("`{method}` to the fake Telegram: {e}"));
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("the fake's answer");
    (
        status,
        serde_json::from_slice(&bytes).expect("the fake answers JSON"),
    )
}
