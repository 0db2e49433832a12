//! A real headless Chromium for the web tests, driven through
//! chromedriver: one place for the browser's flags, so the keying station
//! and the console are tested in the same browser set-up.

use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use std::time::Duration;

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
