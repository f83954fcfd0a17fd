//! The web screens in a real browser: Debian's Chromium, headless, driven
//! through chromedriver, against `keyward serve` on a fresh data directory.
//!
//! One journey from the printed setup link to a verified API call (its
//! clicks, keystrokes and time are printed), then create, the shown-once
//! guarantee, rotate, revoke with the typed name, bulk revoke, role gating,
//! CSP and CSRF. Without chromedriver the test says so loudly and passes,
//! except under `CI=true`, where it fails. With `KEYWARD_SCREENSHOTS=DIR`
//! it saves a PNG of each main screen there (how `docs/screenshots/` is made).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_keyward");

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    let path =
        std::env::var_os("KEYWARD_CHROMEDRIVER").map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    let why =
        format!("browser tests need chromedriver at {} (apt-get install chromium chromium-driver)", path.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("\n\n!!! SKIPPED: {why} !!!\n");
    None
}

struct Server {
    _process: Killed,
    base: String,
    setup_link: String,
    admin: String,
    _dir: tempfile::TempDir,
}

fn start_server() -> Server {
    start_server_at("127.0.0.1:0", &[])
}

/// `keyward serve` listening on `listen` with `env`, up to its setup link.
fn start_server_at(listen: &str, env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let admin_file = dir.path().join("admin-token");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--admin-token-file")
        .arg(&admin_file)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let setup_link = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "keyward serve exited: {said}");
        said.push_str(&line);
        let link = line.trim();
        if (link.starts_with("http://") || link.starts_with("https://")) && link.contains("/setup?code=") {
            break link.to_owned();
        }
    };
    std::thread::spawn(move || for _ in stderr.lines() {});
    let base = setup_link.split("/setup").next().unwrap().to_owned();
    let admin = std::fs::read_to_string(&admin_file).unwrap().trim().to_owned();
    Server { _process: Killed(child), base, setup_link, admin, _dir: dir }
}

async fn browser(driver: &PathBuf) -> (Client, Killed) {
    browser_with(driver, &[]).await
}

async fn browser_with(driver: &PathBuf, extra_args: &[&str]) -> (Client, Killed) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let process = Killed(
        Command::new(driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let mut args =
        vec!["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"];
    args.extend_from_slice(extra_args);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), json!({"binary": "/usr/bin/chromium", "args": args}));
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (client, process),
            Err(error) => {
                assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not start: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Counts what a person does: clicks and keystrokes.
#[derive(Default)]
struct Effort {
    clicks: usize,
    keystrokes: usize,
}

impl Effort {
    async fn click(&mut self, browser: &Client, locator: Locator<'_>) {
        self.clicks += 1;
        find(browser, locator).await.click().await.unwrap();
    }
    async fn type_into(&mut self, browser: &Client, css: &str, text: &str) {
        self.keystrokes += text.chars().count();
        find(browser, Locator::Css(css)).await.send_keys(text).await.unwrap();
    }
}

async fn screenshot(browser: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("KEYWARD_SCREENSHOTS") {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png).unwrap();
    }
}

async fn verify(base: &str, verifier: &str, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/v1/verify"))
        .bearer_auth(verifier)
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn api(server: &Server, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

async fn source(browser: &Client) -> String {
    browser.source().await.unwrap()
}

/// The element, once the page shows it (a click that submits a form
/// returns before the next page is there).
async fn find(browser: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    match browser.wait().at_most(Duration::from_secs(15)).for_element(locator).await {
        Ok(element) => element,
        Err(error) => panic!("no {locator:?} ({error}) on {}", source(browser).await),
    }
}

/// The page's source, once it says `text`.
async fn until(browser: &Client, text: &str) -> String {
    let started = Instant::now();
    loop {
        let page = source(browser).await;
        if page.contains(text) {
            return page;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the page never said {text:?}: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The text of the created page's example in `language`, as a person
/// copies it (the page escapes it as HTML; the browser undoes that).
async fn example(browser: &Client, language: &str) -> String {
    let code = browser
        .execute(
            "return document.querySelector(`[data-example=\"${arguments[0]}\"]`).textContent",
            vec![json!(language)],
        )
        .await
        .unwrap();
    code.as_str().unwrap_or_else(|| panic!("no {language} example")).to_owned()
}

/// Runs a first-call example with the token in `$KEYWARD_API_TOKEN`; its
/// output, or `None` when the program is not installed here.
fn run_example(command: &[&str], token: &str) -> Option<String> {
    let output = match Command::new(command[0]).args(&command[1..]).env("KEYWARD_API_TOKEN", token).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("note: {} is not installed; its example was not run", command[0]);
            return None;
        }
        Err(error) => panic!("{}: {error}", command[0]),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{command:?} failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    Some(stdout)
}

/// axe-core's script, installed by `.ci/run` from the npm registry (or at
/// `AXE_CORE_JS`). Without it the accessibility audit is skipped loudly,
/// except under `CI=true`, where that fails.
fn axe_source() -> Option<String> {
    let path = std::env::var_os("AXE_CORE_JS")
        .map_or_else(|| PathBuf::from("/var/tmp/keyward-axe/node_modules/axe-core/axe.min.js"), PathBuf::from);
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(error) => {
            let why = format!(
                "the accessibility audit needs axe-core at {} ({error}; `npm install --prefix /var/tmp/keyward-axe axe-core@4`)",
                path.display()
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("\n\n!!! SKIPPED: {why} !!!\n");
            None
        }
    }
}

/// Runs axe on the current page and fails on any WCAG 2.1 A/AA violation,
/// naming the rule and the elements. WebDriver runs the script outside the
/// page's Content-Security-Policy, so the page itself stays script-strict.
async fn audit_accessibility(browser: &Client, axe: &str, what: &str) {
    let script = format!(
        "{axe}\n;return axe.run(document, {{runOnly: {{type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}}})\
         .then(result => result.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + \
         v.nodes.map(n => n.target.join(' ')).join(', ')));"
    );
    let violations = browser.execute(&script, vec![]).await.unwrap();
    let violations = violations.as_array().unwrap_or_else(|| panic!("axe did not run on {what}: {violations}"));
    assert!(violations.is_empty(), "{what} has accessibility violations:\n{}", json!(violations));
}

/// Reloads the page until it says `text` (what the server writes in the
/// background, like sampled usage, lands within seconds).
async fn until_reloaded(browser: &Client, text: &str) -> String {
    let started = Instant::now();
    loop {
        let page = source(browser).await;
        if page.contains(text) {
            return page;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the page never said {text:?}: {page}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.refresh().await.unwrap();
    }
}

async fn create_token(browser: &Client, server: &Server, name: &str, keyspace: Option<&str>) -> String {
    browser.goto(&format!("{}/tokens/new", server.base)).await.unwrap();
    find(browser, Locator::Css("#name")).await.send_keys(name).await.unwrap();
    if let Some(keyspace) = keyspace {
        find(browser, Locator::Css(&format!("#keyspace_id option[value='{keyspace}']"))).await.click().await.unwrap();
    }
    // No scopes, said so: the form refuses a token whose scopes were forgotten.
    find(browser, Locator::Css("input[name=no_scopes]")).await.click().await.unwrap();
    find(browser, Locator::Css("form button.primary")).await.click().await.unwrap();
    find(browser, Locator::Css("#secret")).await.prop("value").await.unwrap().unwrap()
}

#[tokio::test]
async fn from_the_setup_link_to_a_verified_call_and_every_token_action() {
    let Some(driver) = chromedriver() else { return };
    let server = start_server();
    let (browser, _driver) = browser(&driver).await;

    // Onboarding, as a person does it, counted and timed.
    let mut effort = Effort::default();
    let started = Instant::now();
    browser.goto(&server.setup_link).await.unwrap();
    screenshot(&browser, "1-setup").await;
    effort.type_into(&browser, "#email", "owner@example.com").await;
    effort.type_into(&browser, "#password", "correct horse battery").await;
    effort.click(&browser, Locator::Css("form button.primary")).await;
    until(&browser, "Your account is ready").await;
    effort.click(&browser, Locator::LinkText("Create your first token")).await;
    effort.type_into(&browser, "#name", "billing worker").await;
    effort.type_into(&browser, "#extra_scopes", "invoices:read").await;
    screenshot(&browser, "2-create-token").await;
    effort.click(&browser, Locator::Css("form button.primary")).await;
    let secret = find(&browser, Locator::Css("#secret")).await.prop("value").await.unwrap().unwrap();
    effort.click(&browser, Locator::Css("[data-copy=secret]")).await;
    screenshot(&browser, "3-shown-once").await;
    // The first call is the page's own curl example, run as printed with the
    // copied token in $KEYWARD_API_TOKEN: no other credential, no docs.
    let curl = example(&browser, "curl").await;
    let answer = run_example(&["sh", "-c", &curl], &secret).expect("curl is on the machine");
    let elapsed = started.elapsed();
    assert!(answer.contains("\"valid\":true") && answer.contains("billing worker"), "{answer}");
    println!(
        "onboarding: {} clicks, {} keystrokes, {:.1} s from the setup link to a verified call (browser automation speed)",
        effort.clicks,
        effort.keystrokes,
        elapsed.as_secs_f64()
    );
    assert!(effort.clicks <= 5, "onboarding takes {} clicks", effort.clicks);
    // The other ready-to-run examples work as printed where their runtime is installed.
    let python = example(&browser, "Python").await;
    if let Some(output) = run_example(&["python3", "-c", &python], &secret) {
        assert!(output.starts_with("200 ") && output.contains("'valid': True"), "{output}");
    }
    let script = tempfile::Builder::new().suffix(".mjs").tempfile().unwrap();
    std::fs::write(script.path(), example(&browser, "JavaScript").await).unwrap();
    if let Some(output) = run_example(&["node", script.path().to_str().unwrap()], &secret) {
        assert!(output.starts_with("200 ") && output.contains("valid: true"), "{output}");
    }
    if let Some(axe) = axe_source() {
        audit_accessibility(&browser, &axe, "the shown-once page").await;
    }
    // One more click shows the call arriving on the token's page.
    effort.click(&browser, Locator::LinkText("I made the call: check it arrived")).await;
    let arrived = until_reloaded(&browser, "It works: a verified call arrived").await;
    assert!(arrived.contains("127.0.0.1 · curl/"), "the source of the call is shown: {arrived}");
    println!("seeing it arrive on the token's page: {} clicks in all", effort.clicks);

    // Shown once: going back and forward again never shows the secret.
    browser.back().await.unwrap();
    assert!(!source(&browser).await.contains(&secret));
    browser.forward().await.unwrap();
    assert!(!source(&browser).await.contains(&secret), "forward showed the secret again");
    browser.goto(&format!("{}/tokens", server.base)).await.unwrap();
    let list = source(&browser).await;
    assert!(list.contains("billing worker") && !list.contains(&secret));
    let stored: String = browser
        .execute("return JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!stored.contains(&secret), "the secret reached browser storage");
    screenshot(&browser, "4-tokens").await;

    // CSP: an injected inline script does not run.
    let ran = browser
        .execute("const s = document.createElement('script'); s.textContent = 'window.injected = 1'; document.head.appendChild(s); return window.injected === 1;", vec![])
        .await
        .unwrap();
    assert_eq!(ran, json!(false), "the CSP let an inline script run");

    // Rotate with a one-hour grace: the new token works, and so does the old one until then.
    find(&browser, Locator::LinkText("billing worker")).await.click().await.unwrap();
    let old_page = browser.current_url().await.unwrap();
    find(&browser, Locator::LinkText("Rotate…")).await.click().await.unwrap();
    screenshot(&browser, "5-rotate").await;
    find(&browser, Locator::Css("input[name=grace][value='3600']")).await.click().await.unwrap();
    find(&browser, Locator::Css("form button.primary")).await.click().await.unwrap();
    let rotated = find(&browser, Locator::Css("#secret")).await.prop("value").await.unwrap().unwrap();
    until(&browser, "keeps working until").await;
    assert_eq!(verify(&server.base, &server.admin, &rotated).await["valid"], true);
    assert_eq!(verify(&server.base, &server.admin, &secret).await["valid"], true, "the old one is in its grace period");
    browser.goto(old_page.as_str()).await.unwrap();
    let old = until(&browser, "Still using this token").await;
    assert!(old.contains("In rotation grace") && old.contains("Still using this token"), "{old}");
    screenshot(&browser, "6-token-detail").await;

    // Revoke in a live keyspace: the typed name is required.
    let live =
        api(&server, reqwest::Method::POST, "/v1/keyspaces", json!({"name": "payments", "environment": "live"})).await;
    let live_id = live["id"].as_str().unwrap();
    let live_secret = create_token(&browser, &server, "payments api", Some(live_id)).await;
    find(&browser, Locator::Css("a.button[href^='/tokens/tok_']")).await.click().await.unwrap();
    find(&browser, Locator::Css("#confirm")).await.send_keys("payments").await.unwrap();
    find(&browser, Locator::Css("button.destructive")).await.click().await.unwrap();
    until(&browser, "Type the token").await;
    assert_eq!(verify(&server.base, &server.admin, &live_secret).await["valid"], true, "a wrong name revokes nothing");
    find(&browser, Locator::Css("#confirm")).await.send_keys("payments api").await.unwrap();
    find(&browser, Locator::Css("button.destructive")).await.click().await.unwrap();
    until(&browser, "Token revoked").await;
    assert_eq!(verify(&server.base, &server.admin, &live_secret).await["code"], "REVOKED");

    // Bulk revoke: two selected rows, the count typed.
    let first = create_token(&browser, &server, "batch one", None).await;
    let second = create_token(&browser, &server, "batch two", None).await;
    browser.goto(&format!("{}/tokens?q=batch", server.base)).await.unwrap();
    until(&browser, "batch two").await;
    for checkbox in browser.find_all(Locator::Css("input[name=id]")).await.unwrap() {
        checkbox.click().await.unwrap();
    }
    find(&browser, Locator::Css("button.danger-outline")).await.click().await.unwrap();
    until(&browser, "Revoke 2 tokens?").await;
    screenshot(&browser, "7-bulk-revoke").await;
    find(&browser, Locator::Css("#confirm_count")).await.send_keys("2").await.unwrap();
    find(&browser, Locator::Css("button.destructive")).await.click().await.unwrap();
    until(&browser, "2 tokens revoked").await;
    for revoked in [&first, &second] {
        assert_eq!(verify(&server.base, &server.admin, revoked).await["code"], "REVOKED");
    }

    // CSRF: the session alone cannot post a form.
    let session = browser.get_named_cookie("__Host-keyward_session").await.unwrap();
    let forged = reqwest::Client::new()
        .post(format!("{}/tokens/new", server.base))
        .header("Cookie", format!("__Host-keyward_session={}", session.value()))
        .form(&[("name", "forged"), ("keyspace_id", live_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // The audit log shows it all.
    browser.goto(&format!("{}/audit", server.base)).await.unwrap();
    until(&browser, "token.bulk_revoked").await;
    screenshot(&browser, "8-audit").await;

    // Roles: a developer sees no admin page; a viewer cannot create.
    for (email, role) in [("dev@example.com", "developer"), ("viewer@example.com", "viewer")] {
        browser.goto(&format!("{}/members", server.base)).await.unwrap();
        find(&browser, Locator::Css("#email")).await.send_keys(email).await.unwrap();
        find(&browser, Locator::Css(&format!("#role option[value={role}]"))).await.click().await.unwrap();
        find(&browser, Locator::Css("form[action='/members/invite'] button")).await.click().await.unwrap();
        let link = find(&browser, Locator::Css("#invitation")).await.prop("value").await.unwrap().unwrap();
        if role == "developer" {
            screenshot(&browser, "9-members").await;
        }
        find(&browser, Locator::Css("form[action='/sign-out'] button")).await.click().await.unwrap();
        // The sign-out's redirect must land before the next navigation, or
        // it may arrive after it and leave the browser on the sign-in page.
        until(&browser, "<title>Sign in").await;
        if let (Some(axe), "developer") = (axe_source(), role) {
            audit_accessibility(&browser, &axe, "the sign-in page").await;
        }
        browser.goto(&link).await.unwrap();
        if let (Some(axe), "developer") = (axe_source(), role) {
            find(&browser, Locator::Css("#password")).await;
            audit_accessibility(&browser, &axe, "the invitation page").await;
        }
        find(&browser, Locator::Css("#password")).await.send_keys("another long password").await.unwrap();
        find(&browser, Locator::Css("form button.primary")).await.click().await.unwrap();
        let tokens = until(&browser, email).await;
        let _ = tokens;
        // Members and the audit log are readable by every role; managing them is not.
        browser.goto(&format!("{}/members", server.base)).await.unwrap();
        let members = until(&browser, "owner@example.com").await;
        assert!(!members.contains("Invite someone"), "{role} may invite");
        browser.goto(&format!("{}/tokens", server.base)).await.unwrap();
        let page = source(&browser).await;
        assert_eq!(page.contains("href=\"/tokens/new\""), role == "developer", "{role}");
        assert!(!page.contains("href=\"/policies\""), "{role} is offered the policy page");
        browser.goto(&format!("{}/policies", server.base)).await.unwrap();
        until(&browser, "Not allowed for your role").await;
        browser.goto(&format!("{}/keyspaces", server.base)).await.unwrap();
        assert!(!until(&browser, "payments").await.contains("Create a keyspace"), "{role} may create keyspaces");
        if role == "viewer" {
            browser.goto(&format!("{}/tokens/new", server.base)).await.unwrap();
            until(&browser, "does not allow").await;
            browser.goto(&format!("{}/tokens", server.base)).await.unwrap();
        }
        find(&browser, Locator::Css("form[action='/sign-out'] button")).await.click().await.unwrap();
        until(&browser, "<title>Sign in").await;
        find(&browser, Locator::Css("#email")).await.send_keys("owner@example.com").await.unwrap();
        find(&browser, Locator::Css("#password")).await.send_keys("correct horse battery").await.unwrap();
        find(&browser, Locator::Css("form button.primary")).await.click().await.unwrap();
        // Signed in again before the next navigation, or the sign-in's
        // redirect could land after it.
        until(&browser, "<title>API Tokens").await;
    }

    // A column header sorts the whole list in the store (a link: no script
    // needed), again flips it; the table filters as you type (within the
    // page; Enter searches the store), and "/" jumps to the search.
    let names = "return Array.from(document.querySelectorAll('#tokens-table tbody tr'))\
                 .filter(row => !row.hidden).map(row => row.dataset.name)";
    find(&browser, Locator::Css("th a.sort[href*='order=name']")).await.click().await.unwrap();
    until(&browser, "aria-sort=\"ascending\"").await;
    let ascending = browser.execute(names, vec![]).await.unwrap();
    assert_eq!(ascending[0], "batch one", "{ascending}");
    find(&browser, Locator::Css("th a.sort[href*='order=-name']")).await.click().await.unwrap();
    until(&browser, "aria-sort=\"descending\"").await;
    let descending = browser.execute(names, vec![]).await.unwrap();
    assert_eq!(descending[0], "payments api", "{descending}");
    find(&browser, Locator::Css("body")).await.send_keys("/").await.unwrap();
    let focused = browser.execute("return document.activeElement.id", vec![]).await.unwrap();
    assert_eq!(focused, "q", "/ focuses the search");
    browser.active_element().await.unwrap().send_keys("batch").await.unwrap();
    until(&browser, "2 of").await;
    assert_eq!(browser.execute(names, vec![]).await.unwrap(), json!(["batch two", "batch one"]));

    // A keyspace with its scope catalog, a service account owning a token,
    // and the policy: each made on its page.
    browser.goto(&format!("{}/keyspaces", server.base)).await.unwrap();
    find(&browser, Locator::Css("#name")).await.send_keys("billing").await.unwrap();
    find(&browser, Locator::Css("form[action='/keyspaces'] button")).await.click().await.unwrap();
    until(&browser, "Keyspace created").await;
    find(&browser, Locator::Css("input[name=restrict][value=catalog]")).await.click().await.unwrap();
    find(&browser, Locator::Css("#catalog"))
        .await
        .send_keys("invoices:read Read invoices\ninvoices:write Create and change invoices")
        .await
        .unwrap();
    find(&browser, Locator::Css("form[action$='/scopes'] button")).await.click().await.unwrap();
    until(&browser, "2 scopes in the catalog").await;
    screenshot(&browser, "10-keyspace").await;
    browser.goto(&format!("{}/service-accounts", server.base)).await.unwrap();
    find(&browser, Locator::Css("#name")).await.send_keys("nightly export").await.unwrap();
    find(&browser, Locator::Css("form[action='/service-accounts'] button")).await.click().await.unwrap();
    until(&browser, "nightly export created").await;
    find(&browser, Locator::LinkText("Create token")).await.click().await.unwrap();
    find(&browser, Locator::Css("#name")).await.send_keys("export job").await.unwrap();
    find(&browser, Locator::Css("input[name=no_scopes]")).await.click().await.unwrap();
    find(&browser, Locator::Css("form button.primary")).await.click().await.unwrap();
    let owned = find(&browser, Locator::Css("#secret")).await.prop("value").await.unwrap().unwrap();
    let owner = verify(&server.base, &server.admin, &owned).await["owner"].clone();
    assert!(owner.as_str().is_some_and(|owner| owner.starts_with("sa_")), "{owner}");
    browser.goto(&format!("{}/service-accounts", server.base)).await.unwrap();
    until(&browser, "nightly export").await;
    screenshot(&browser, "11-service-accounts").await;
    browser.goto(&format!("{}/policies", server.base)).await.unwrap();
    find(&browser, Locator::Css("input[name=require_expiry]")).await.click().await.unwrap();
    find(&browser, Locator::Css("#max_lifetime")).await.send_keys("90d").await.unwrap();
    find(&browser, Locator::Css("form[action='/policies'] button")).await.click().await.unwrap();
    until(&browser, "Policy saved").await;
    screenshot(&browser, "12-policy").await;

    // Every main screen passes axe's WCAG 2.1 A and AA checks (contrast,
    // labels, names, landmarks), on a laptop's width and on a phone's.
    if let Some(axe) = axe_source() {
        let token_page = old_page.as_str().to_owned();
        let rotate_page = format!("{token_page}/rotate");
        let mut audited = 0;
        for width in [1280, 390] {
            browser.set_window_size(width, 900).await.unwrap();
            for path in [
                "/tokens",
                "/tokens?order=name",
                "/tokens/new",
                token_page.as_str(),
                rotate_page.as_str(),
                "/audit",
                "/members",
                "/service-accounts",
                "/keyspaces",
                "/scopes",
                "/policies",
            ] {
                let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", server.base) };
                browser.goto(&url).await.unwrap();
                find(&browser, Locator::Css("main")).await;
                audit_accessibility(&browser, &axe, &format!("{path} at {width}px")).await;
                audited += 1;
            }
        }
        println!("accessibility: {audited} page views pass axe-core's WCAG 2.1 A/AA rules");
    }

    // On a phone's width the tokens screen still reads.
    browser.set_window_size(390, 844).await.unwrap();
    browser.goto(&format!("{}/tokens", server.base)).await.unwrap();
    until(&browser, "export job").await;
    let overflow = browser.execute("return document.body.scrollWidth <= window.innerWidth + 1", vec![]).await.unwrap();
    assert_eq!(overflow, json!(true), "the page scrolls sideways on a phone (only the table may)");
    screenshot(&browser, "13-tokens-phone").await;
    browser.close().await.unwrap();
}

/// An address of this machine other than loopback: what a browser on
/// another machine would use. Connecting a UDP socket sends nothing; it
/// only picks the interface a route would take.
fn network_address() -> Option<std::net::IpAddr> {
    let routed = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.connect("192.0.2.1:9").and_then(|()| socket.local_addr()))
        .ok()
        .map(|address| address.ip());
    let listed = || {
        let output = Command::new("hostname").arg("-I").output().ok()?;
        String::from_utf8_lossy(&output.stdout).split_whitespace().find_map(|word| word.parse().ok())
    };
    routed.filter(|ip: &std::net::IpAddr| !ip.is_loopback() && !ip.is_unspecified()).or_else(listed)
}

/// On a network address a browser cannot sign in over plain HTTP, and the
/// screens say so; over TLS (a certificate made here, for that address)
/// onboarding completes and the examples call the https origin.
#[tokio::test]
async fn over_tls_at_a_network_address_onboarding_completes() {
    let Some(driver) = chromedriver() else { return };
    let Some(ip) = network_address() else {
        let why = "this machine has no address but loopback; the TLS browser test needs one";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("\n\n!!! SKIPPED: {why} !!!\n");
        return;
    };
    let listen = std::net::SocketAddr::new(ip, 0).to_string();
    // The test's certificate is not in the browser's roots; that is the
    // one check switched off, and only for this browser.
    let (browser, _driver) = browser_with(&driver, &["--ignore-certificate-errors"]).await;

    let plain = start_server_at(&listen, &[]);
    browser.goto(&plain.setup_link).await.unwrap();
    let explained = until(&browser, "Open Keyward over HTTPS").await;
    assert!(explained.contains("tls_cert_file"), "{explained}");

    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec![ip.to_string()]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let server = start_server_at(
        &listen,
        &[("KEYWARD_TLS_CERT_FILE", cert.to_str().unwrap()), ("KEYWARD_TLS_KEY_FILE", key.to_str().unwrap())],
    );
    assert!(server.setup_link.starts_with("https://"), "{}", server.setup_link);
    assert!(!server.base.contains("127.0.0.1"), "{}", server.base);
    browser.goto(&server.setup_link).await.unwrap();
    find(&browser, Locator::Css("#email")).await.send_keys("owner@example.com").await.unwrap();
    find(&browser, Locator::Css("#password")).await.send_keys("correct horse battery").await.unwrap();
    find(&browser, Locator::Css("form button.primary")).await.click().await.unwrap();
    until(&browser, "Your account is ready").await;
    find(&browser, Locator::LinkText("Create your first token")).await.click().await.unwrap();
    find(&browser, Locator::Css("#name")).await.send_keys("over tls").await.unwrap();
    find(&browser, Locator::Css("input[name=no_scopes]")).await.click().await.unwrap();
    find(&browser, Locator::Css("form button.primary")).await.click().await.unwrap();
    let secret = find(&browser, Locator::Css("#secret")).await.prop("value").await.unwrap().unwrap();
    assert!(!secret.is_empty());
    let curl = example(&browser, "curl").await;
    assert!(curl.contains(&format!("{}/v1/sample", server.base)), "the example calls the https origin: {curl}");
}
