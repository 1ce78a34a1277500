//! A local SMTP sink for tests: speaks just enough SMTP (EHLO/HELO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT) on a free loopback port to capture the
//! messages it is sent. Can be told to refuse every message (451).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message taken by the sink.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub(crate) rcpt: Vec<String>,
    pub(crate) data: String,
}

impl Captured {
    /// The value of header `name` (case-insensitive), if present.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .split("\r\n")
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }
}

/// The sink; it stops with the test's runtime.
pub(crate) struct SmtpSink {
    port: u16,
    messages: Arc<Mutex<Vec<Captured>>>,
    refuse: Arc<AtomicBool>,
}

impl SmtpSink {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink");
        let port = listener.local_addr().expect("its address").port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(AtomicBool::new(false));
        let (m, r) = (Arc::clone(&messages), Arc::clone(&refuse));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, Arc::clone(&m), Arc::clone(&r)));
            }
        });
        Self { port, messages, refuse }
    }

    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Refuse (451) every message from now on, or take them again.
    pub(crate) fn refuse(&self, on: bool) {
        self.refuse.store(on, Ordering::SeqCst);
    }

    pub(crate) fn messages(&self) -> Vec<Captured> {
        self.messages.lock().unwrap().clone()
    }
}

async fn session(socket: tokio::net::TcpStream, messages: Arc<Mutex<Vec<Captured>>>, refuse: Arc<AtomicBool>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let mut rcpt = Vec::new();
    if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 ok\r\n",
            "RSET" => {
                rcpt.clear();
                b"250 ok\r\n"
            }
            "MAIL" => {
                rcpt.clear();
                b"250 ok\r\n"
            }
            "RCPT" => {
                let addr = line
                    .trim_end()
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_matches(['<', '>']));
                rcpt.push(addr.unwrap_or("").to_owned());
                b"250 ok\r\n"
            }
            "DATA" => {
                if write.write_all(b"354 go on\r\n").await.is_err() {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                if refuse.load(Ordering::SeqCst) {
                    b"451 try again later\r\n"
                } else {
                    messages.lock().unwrap().push(Captured {
                        rcpt: std::mem::take(&mut rcpt),
                        data,
                    });
                    b"250 queued\r\n"
                }
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 not here\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
