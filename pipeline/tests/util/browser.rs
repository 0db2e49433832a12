//! A real headless Chromium for the web tests, driven through
//! chromedriver: one place for the browser's flags, so the keying station
//! and the console are tested in the same browser set-up.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Chromium and its driver (`scripts/setup` installs both).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A browser session on the chromedriver listening on `port`.
pub async fn session(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900",
                     // DevTools over a pipe, not a local port: in a bare
                     // Debian root chromedriver cannot reach the port
                     // ("unable to connect to renderer").
                     "--remote-debugging-pipe"],
        }),
    );
    // A renderer that does not come up in time is a start-up failure of
    // the browser, not of the page under test: try again, then fail.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(e) if attempt < 3 => {
                eprintln!("Chromium session, attempt {attempt}: {e}; trying again");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => panic!("a Chromium session: {e:?}"),
        }
    }
}

/// chromedriver and its browsers (one process group), killed when dropped.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's process group.
        unsafe {
            libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port; waits until it listens.
pub fn chromedriver() -> (Driver, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Driver(child), port)
}

/// Presses keys one after another into whatever has focus.
pub async fn keys(c: &Client, text: &str) {
    let mut seq = KeyActions::new("keyboard".into());
    for ch in text.chars() {
        seq = seq
            .then(KeyAction::Down { value: ch })
            .then(KeyAction::Up { value: ch });
    }
    c.perform_actions(seq).await.unwrap();
}

/// The value of a script run in the page.
pub async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Runs `script` until `ok` accepts its value (30 s at most: a busy CI
/// machine is slow, a page that never gets there is a failure).
pub async fn wait_js(c: &Client, what: &str, script: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = js(c, script).await;
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "waited 30 s for {what}; saw {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes a screenshot into `docs/` (the README shows them).
pub fn screenshot(png: &[u8], name: &str) -> PathBuf {
    let docs = super::root().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let path = docs.join(name);
    std::fs::write(&path, png).unwrap();
    path
}

/// True (with a loud SKIPPED) when Chromium or chromedriver is missing:
/// `test` names the test, `what` what was therefore not tested.
pub fn no_browser(test: &str, what: &str) -> bool {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(bin).exists() {
            eprintln!(
                "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 SKIPPED: {test} needs {bin} (Debian chromium + chromium-driver;\n\
                 scripts/setup installs them). {what} was NOT tested in a browser.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            return true;
        }
    }
    false
}
