//! `fake-telegram`: runs the test kit's fake Bot API by hand, for `b00t bench --bridge`
//! and people trying a Telegram bridge without a bot. Prints its URL first; then each
//! line read on stdin, `{"chat": <id>, "text": "…"}`, becomes a private chat's message
//! update, and each message the bot sends is printed as one JSON line
//! (`{"chat_id", "message_id", "text", "reply_to_message_id"}`). Stops on Ctrl-C,
//! SIGTERM or the end of stdin.

use std::io::Write;
use std::net::SocketAddr;

use b00t_testkit::telegram::{FakeTelegram, TestChat, TestUser};
use clap::Parser;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

/// A fake Telegram Bot API (getMe, getUpdates, sendMessage, sendChatAction, webhooks)
/// speaking the Bot API's JSON, for one bot.
#[derive(Parser)]
#[command(name = "fake-telegram", version)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The bot's token, what `TELEGRAM_BOT_TOKEN` holds (`<id>:<secret>`).
    #[arg(long, default_value = "4242:fake-token")]
    token: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let shutdown = CancellationToken::new();
    let fake = match FakeTelegram::bind(args.listen, &args.token, &shutdown).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!(
                "error: cannot listen on `{}`: {e}; pass `--listen 127.0.0.1:0` for a free port",
                args.listen
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    if println(&fake.url()).is_err() {
        return std::process::ExitCode::SUCCESS;
    }
    eprintln!(
        "fake Telegram at {}; set TELEGRAM_API_URL={} and TELEGRAM_BOT_TOKEN={} (stdin: {{\"chat\": 42, \"text\": \"hi\"}} per line)",
        fake.url(),
        fake.url(),
        args.token
    );
    tokio::select! {
        _ = b00t_testkit::until_signal() => {}
        _ = read_messages(&fake) => {}
        _ = print_sent(&fake) => {}
    }
    shutdown.cancel();
    std::process::ExitCode::SUCCESS
}

/// Pushes each stdin line as a message; ends with stdin.
async fn read_messages(fake: &FakeTelegram) {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(request) = serde_json::from_str::<Value>(&line) else {
            eprintln!("error: `{line}` is not JSON: write {{\"chat\": 42, \"text\": \"hi\"}}");
            continue;
        };
        let (Some(chat), Some(text)) = (request["chat"].as_i64(), request["text"].as_str()) else {
            eprintln!("error: `{line}` needs a number `chat` and a string `text`");
            continue;
        };
        let user = TestUser::new(chat, "Bench");
        fake.push_message(&TestChat::private(&user), &user, text);
    }
}

/// Prints every message the bot sends, as it is sent; ends when stdout is closed.
async fn print_sent(fake: &FakeTelegram) {
    let mut seen = 0;
    loop {
        let sent = fake.sent_after(seen).await;
        seen += sent.len();
        for message in sent {
            let line = json!({
                "chat_id": message.chat_id,
                "message_id": message.message_id,
                "text": message.plain_text,
                "reply_to_message_id": message.reply_to_message_id,
            });
            if println(&line.to_string()).is_err() {
                return;
            }
        }
    }
}

/// One line on stdout, flushed; an error once the reader is gone.
fn println(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}
