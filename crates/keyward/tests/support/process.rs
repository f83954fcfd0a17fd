//! One `keyward serve` process to start, stop gently or kill outright, and
//! an HTTP client that reports failures instead of panicking on them: the
//! operations and fault-injection tests need to see what a client sees.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_keyward");

pub struct Served {
    child: Option<Child>,
    pub base: String,
    log: Arc<Mutex<String>>,
}

/// `--data-dir DIR` or `--database-url URL`, plus whatever else.
pub fn serve_args(store: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["serve", "--listen", "127.0.0.1:0"].iter().map(|s| (*s).to_owned()).collect();
    args.extend(store.iter().chain(extra).map(|s| (*s).to_owned()));
    args
}

impl Served {
    /// Starts `keyward serve` and waits until it listens.
    pub fn start(store: &[&str], extra: &[&str]) -> Served {
        Self::start_under(&[], store, extra)
    }

    /// [`Served::start`] under a wrapper that execs the server (so the PID
    /// stays the server's), such as a fault injector.
    pub fn start_under(wrapper: &[&str], store: &[&str], extra: &[&str]) -> Served {
        Self::start_full(wrapper, store, extra, &[])
    }

    /// [`Served::start`] with extra environment variables.
    pub fn start_with_env(store: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Served {
        Self::start_full(&[], store, extra, env)
    }

    fn start_full(wrapper: &[&str], store: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Served {
        let mut command = match wrapper.split_first() {
            Some((program, arguments)) => {
                let mut command = Command::new(program);
                command.args(arguments).arg(BIN);
                command
            }
            None => Command::new(BIN),
        };
        let mut child = command
            .args(serve_args(store, extra))
            .env_remove("KEYWARD_TOKEN")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut startup = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                panic!("server exited early: {startup}");
            }
            startup.push_str(&line);
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "server did not start: {startup}");
        };
        let log = Arc::new(Mutex::new(startup));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        Served { child: Some(child), base, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// SIGKILL: no shutdown, no flush, nothing but what is already durable.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then waits; the exit code.
    pub fn terminate(mut self) -> i32 {
        let mut child = self.child.take().unwrap();
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a client saw: an answer (status and JSON body), or none at all.
#[derive(Debug, Clone)]
pub enum Outcome {
    Answered(u16, Value),
    /// The connection failed or was cut before a whole answer arrived.
    NoAnswer(String),
}

impl Outcome {
    pub fn ok(&self) -> Option<&Value> {
        match self {
            Outcome::Answered(status, body) if (200..300).contains(status) => Some(body),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub admin: String,
}

impl Api {
    pub fn new(base: &str, admin_token_file: &Path) -> Api {
        let admin = std::fs::read_to_string(admin_token_file).unwrap().trim().to_owned();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Api { http, base: base.to_owned(), admin }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Outcome {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Outcome::NoAnswer(error.to_string()),
        };
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(bytes) => Outcome::Answered(status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
            Err(error) => Outcome::NoAnswer(error.to_string()),
        }
    }

    /// The status and JSON of an answer that must arrive; every 503 must
    /// say when to retry.
    pub async fn answer(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body = response.json().await.unwrap_or(Value::Null);
        assert!(status != 503 || retry_after, "a 503 says when to retry: {body}");
        (status, body)
    }

    /// The JSON of a request that must succeed.
    pub async fn must(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        match self.send(method, path, body).await {
            Outcome::Answered(status, body) if (200..300).contains(&status) => body,
            other => panic!("{path}: {other:?}"),
        }
    }

    pub async fn verify(&self, token: &str) -> String {
        let answer = self.must(reqwest::Method::POST, "/v1/verify", Some(serde_json::json!({"token": token}))).await;
        answer["code"].as_str().unwrap().to_owned()
    }

    /// Every item of a paged list (`path` already has its query, if any).
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(cursor) => format!("{path}{separator}limit=200&cursor={cursor}"),
                None => format!("{path}{separator}limit=200"),
            };
            let page = self.must(reqwest::Method::GET, &page_path, None).await;
            items.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }
}
