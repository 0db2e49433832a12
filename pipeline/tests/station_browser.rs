//! The keying station end to end in real headless Chromium: a page whose
//! every field is routed to keying, two keyers and an arbiter who sign in
//! and finish it with the keyboard only (WebDriver key actions into
//! whatever has focus, never a click), and the package that appears by
//! itself with the keyed values and their provenance.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/setup`
//! installs them); without them the test says SKIPPED loudly and passes.

mod util;

use fantoccini::Client;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use util::station::{self, Keyed};
use util::*;

use util::browser::{CHROMEDRIVER, CHROMIUM, keys, session as browser};
const PASSWORD: &str = "correct horse battery staple";
const FORM: &str = "form_001.jpg";

/// The fields keyer2 gets wrong on purpose, and how.
const KEYER2_TYPES_WRONG: (&str, &str) = ("policy_no", "P201163134109");
const KEYER2_SAYS_ILLEGIBLE: &str = "amount";
/// keyer2 first types a value that misses the mask here (the server says
/// 422), then corrects it.
const KEYER2_CORRECTS: (&str, &str) = ("phone", "1814403052");

/// A child process (and its process group) killed when dropped; its log
/// is printed when the test is failing.
struct Guard {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // The group: chromedriver's browsers go with it.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(12).collect();
            eprintln!("--- last lines of {} ---", self.name);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn class_fields() -> Vec<String> {
    let class: toml::Value = toml::from_str(
        &std::fs::read_to_string(root().join("config/classes/insurance_registration.toml"))
            .unwrap(),
    )
    .unwrap();
    class["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

fn chromedriver(dir: &Path) -> (Guard, u16) {
    let port = free_port();
    let log = dir.join("chromedriver.log");
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let guard = Guard {
        child,
        name: "chromedriver",
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, port)
}

/// One browser at a time: two Chromium instances starting together on a
/// loaded 2-core machine have failed to reach their renderer.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn key(c: &Client, k: Key) {
    keys(c, &k.to_string()).await;
}

/// Ctrl+Shift+L: sign out.
async fn sign_out_keys(c: &Client) {
    let (ctrl, shift) = (char::from(Key::Control), char::from(Key::Shift));
    let seq = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: ctrl })
        .then(KeyAction::Down { value: shift })
        .then(KeyAction::Down { value: 'L' })
        .then(KeyAction::Up { value: 'L' })
        .then(KeyAction::Up { value: shift })
        .then(KeyAction::Up { value: ctrl });
    c.perform_actions(seq).await.unwrap();
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// What the station shows now.
async fn station(c: &Client) -> Value {
    js(
        c,
        r#"const s = document.getElementById("station");
           if (!s) return {state: "none", url: location.pathname};
           const text = (id) => (document.getElementById(id) || {}).textContent || "";
           return {
             state: s.dataset.state, task: s.dataset.task, kind: s.dataset.kind,
             field: text("field-name"), mask: text("mask"),
             focus: document.activeElement ? document.activeElement.id : null,
             value: document.getElementById("value").value,
             invalid: document.getElementById("value").getAttribute("aria-invalid"),
             message: text("message"), lease: text("lease"),
             entries: [text("entry-1").replace(/^\S+\s*/, "").trim(),
                       text("entry-2").replace(/^\S+\s*/, "").trim()],
             entries_shown: !document.getElementById("entries").hidden,
             body: document.body.innerText,
             switch_ms: s.dataset.switchMs ? Number(s.dataset.switchMs) : null,
           };"#,
    )
    .await
}

async fn wait_until<F: Fn(&Value) -> bool>(c: &Client, what: &str, secs: u64, ok: F) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = station(c).await;
        if ok(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "waited {secs} s for {what}; station: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

async fn wait_path(c: &Client, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while path(c).await != want {
        assert!(
            Instant::now() < deadline,
            "waited for {want}, at {}",
            path(c).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The id of the focused element, once it is `want` (or after 5 s).
async fn focused(c: &Client, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let id = js(
            c,
            "return document.activeElement ? document.activeElement.id : ''",
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_string();
        if id == want || Instant::now() > deadline {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs in through the form: the user name, Enter, the password, Enter.
async fn sign_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    assert_eq!(
        focused(c, "user").await,
        "user",
        "the sign-in page starts in the user name"
    );
    keys(c, &format!("{user}{}", Key::Enter)).await;
    assert_eq!(
        focused(c, "password").await,
        "password",
        "Enter goes on to the password"
    );
    keys(c, &format!("{password}{}", Key::Enter)).await;
}

/// One keyed (or arbitrated) task, as the test saw it.
#[derive(Debug)]
struct Done {
    field: String,
    kind: String,
}

/// True (after a loud message) when this machine has no browser to test in.
fn no_browser() -> bool {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(bin).exists() {
            eprintln!(
                "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 SKIPPED: station_browser needs {bin} (Debian chromium + chromium-driver;\n\
                 scripts/setup installs them). The keying station was NOT tested in a browser.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            return true;
        }
    }
    false
}

/// One routed document (form_001, every field to keying), its users, the
/// server and a browser. Fields drop in order: browser, server, store.
struct Stage {
    c: Client,
    _driver: Guard,
    _server: station::Server,
    keyed: Keyed,
    base: String,
    doc_id: String,
    fields: Vec<String>,
    truth: BTreeMap<String, String>,
    ocr: Duration,
}

async fn stage(extra_toml: &str) -> Stage {
    let started = Instant::now();
    let fields = class_fields();
    let keyed = Keyed::prepare(&[FORM], None, extra_toml);
    assert_eq!(keyed.documents.len(), 1);
    let doc_id = keyed.documents[0].clone();
    assert!(
        keyed
            .env
            .out()
            .join(".awaiting-keying")
            .join(&doc_id)
            .is_dir()
    );
    let truth: BTreeMap<String, String> = fields
        .iter()
        .map(|f| (f.clone(), keyed.truth(FORM, f)))
        .collect();
    let ocr = started.elapsed();
    for (name, role) in [
        ("keyer1", "keyer"),
        ("keyer2", "keyer"),
        ("arb", "arbiter"),
        ("sup", "supervisor"),
    ] {
        keyed.user(name, role, PASSWORD);
    }
    let server = keyed.serve();
    let base = server.base.clone();
    let health = station::Client::anonymous(&base).get("/healthz").await;
    assert_eq!(health.status(), 200);
    let (driver, port) = chromedriver(keyed.env.dir.path());
    let c = browser(port).await;
    Stage {
        c,
        _driver: driver,
        _server: server,
        keyed,
        base,
        doc_id,
        fields,
        truth,
        ocr,
    }
}

#[tokio::test]
async fn two_keyers_and_an_arbiter_finish_a_document_with_the_keyboard_only() {
    if no_browser() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let started = Instant::now();
    let st = stage("").await;
    let (c, base, fields, truth) = (&st.c, st.base.as_str(), &st.fields, &st.truth);
    let out = st.keyed.env.out();
    let doc_id = &st.doc_id;
    let ocr_done = st.ocr;

    // Without a session the station sends one to sign in.
    c.goto(&format!("{base}/station")).await.unwrap();
    wait_path(c, "/login").await;

    // A wrong password is refused on the page.
    sign_in(c, base, "keyer1", "not the password").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let msg = js(c, "return document.getElementById('message').textContent")
            .await
            .as_str()
            .unwrap_or("")
            .to_string();
        if !msg.is_empty() && !msg.starts_with("Signing") {
            break;
        }
        assert!(Instant::now() < deadline, "no message for a wrong password");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(path(c).await, "/login");

    let mut switch_ms: Vec<f64> = Vec::new();
    let mut keyings: BTreeMap<&str, Vec<Done>> = BTreeMap::new();
    let mut typed_keys: BTreeMap<&str, (u64, Duration)> = BTreeMap::new();

    for keyer in ["keyer1", "keyer2"] {
        sign_in(c, base, keyer, PASSWORD).await;
        wait_path(c, "/station").await;
        let at_station = Instant::now();
        let mut prev = String::new();
        let mut done = Vec::new();
        let mut presses = 0u64;
        while done.len() < fields.len() {
            let s = wait_until(c, "the next field", 20, |s| {
                s["state"] == "task" && s["task"].as_str() != Some(prev.as_str())
            })
            .await;
            if let Some(ms) = s["switch_ms"].as_f64()
                && !prev.is_empty()
            {
                switch_ms.push(ms);
            }
            prev = s["task"].as_str().unwrap().to_string();
            let field = s["field"].as_str().unwrap().to_string();
            assert_eq!(s["kind"], "key", "{keyer} got {s:#}");
            assert!(fields.contains(&field), "unknown field on screen: {field}");
            assert_eq!(s["focus"], "value", "focus is in the input");
            assert_eq!(s["value"], "", "the input starts empty");
            assert!(!s["mask"].as_str().unwrap().is_empty(), "a mask is shown");
            assert!(
                !s["lease"].as_str().unwrap().is_empty(),
                "the lease is shown"
            );
            assert_eq!(s["entries_shown"], false, "a keyer sees no entries");
            let value = truth[&field].clone();
            // Blind: nothing of the other pass (nor OCR) is on the page.
            assert!(
                !s["body"].as_str().unwrap().contains(&value),
                "{keyer} sees a value for {field} before typing it"
            );

            if keyer == "keyer1" && done.is_empty() {
                // More context, back; zoom in twice, out once.
                let snippet = snippet_size(c).await;
                key(c, Key::F2).await;
                let ctx = wait_image(c, "context=1").await;
                assert!(
                    ctx.0 * ctx.1 > snippet.0 * snippet.1,
                    "more context is a larger cut: {ctx:?} vs {snippet:?}"
                );
                key(c, Key::F2).await;
                let back = wait_image(c, "").await;
                assert_eq!(back, snippet);
                let zoom0 = zoom(c).await;
                key(c, Key::PageUp).await;
                key(c, Key::PageUp).await;
                key(c, Key::PageDown).await;
                let zoom1 = zoom(c).await;
                assert!(zoom1 > zoom0, "PageUp zooms in: {zoom0} → {zoom1}");
                assert_eq!(focused(c, "value").await, "value");
            }

            if keyer == "keyer2" && field == KEYER2_SAYS_ILLEGIBLE {
                key(c, Key::F8).await;
            } else if keyer == "keyer2" && field == KEYER2_CORRECTS.0 {
                let wrong = KEYER2_CORRECTS.1;
                keys(c, wrong).await;
                let s = station(c).await;
                assert_eq!(s["invalid"], "true", "the mask hint shows: {s:#}");
                key(c, Key::Enter).await;
                let s = wait_until(c, "the server's refusal", 10, |s| {
                    !s["message"].as_str().unwrap().is_empty()
                })
                .await;
                assert_eq!(s["task"].as_str(), Some(prev.as_str()), "same field kept");
                assert_eq!(s["value"], wrong, "the input is kept for correction");
                keys(c, &Key::Backspace.to_string().repeat(wrong.len())).await;
                keys(c, &value).await;
                key(c, Key::Enter).await;
                presses += (2 * wrong.len() + value.len()) as u64;
            } else {
                let v = if keyer == "keyer2" && field == KEYER2_TYPES_WRONG.0 {
                    KEYER2_TYPES_WRONG.1.to_string()
                } else {
                    value.clone()
                };
                keys(c, &v).await;
                presses += v.len() as u64;
                if keyer == "keyer1" && done.len() == 1 {
                    let png = c.screenshot().await.unwrap();
                    let target = root().join("target");
                    std::fs::create_dir_all(&target).unwrap();
                    std::fs::write(target.join("station.png"), png).unwrap();
                }
                let s = station(c).await;
                assert_eq!(s["value"], v.as_str());
                assert_eq!(s["invalid"], "false", "{v} fits the mask of {field}");
                key(c, Key::Enter).await;
            }
            done.push(Done {
                field,
                kind: "key".into(),
            });
        }
        // Nothing more for this keyer: one pass of every field each.
        let s = wait_until(c, "no fields waiting", 20, |s| s["state"] == "idle").await;
        assert!(s["body"].as_str().unwrap().contains("No fields waiting"));
        let got: BTreeSet<&str> = done.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(got.len(), fields.len(), "{keyer} keyed each field once");
        sign_out_keys(c).await;
        wait_path(c, "/login").await;
        keyings.insert(keyer, done);
        typed_keys.insert(keyer, (presses, at_station.elapsed()));
    }

    // The arbiter settles the two conflicts: the illegible one by taking
    // the entry that holds the value, the wrong one by typing.
    sign_in(c, base, "arb", PASSWORD).await;
    wait_path(c, "/station").await;
    let mut prev = String::new();
    let mut arbitrated = Vec::new();
    while arbitrated.len() < 2 {
        let s = wait_until(c, "a conflict to settle", 20, |s| {
            s["state"] == "task" && s["task"].as_str() != Some(prev.as_str())
        })
        .await;
        prev = s["task"].as_str().unwrap().to_string();
        assert_eq!(s["kind"], "arbitrate", "{s:#}");
        assert_eq!(s["entries_shown"], true);
        let field = s["field"].as_str().unwrap().to_string();
        let value = truth[&field].clone();
        let entries: Vec<String> = s["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect();
        if field == KEYER2_SAYS_ILLEGIBLE {
            let at = entries
                .iter()
                .position(|e| *e == value)
                .unwrap_or_else(|| panic!("keyer1's value among {entries:?}"));
            assert!(
                entries[1 - at].contains("illegible"),
                "keyer2's illegible among {entries:?}"
            );
            key(c, if at == 0 { Key::Up } else { Key::Down }).await;
            let s = station(c).await;
            assert_eq!(s["value"], value.as_str(), "the arrow takes the entry");
        } else if field == KEYER2_TYPES_WRONG.0 {
            let mut shown = entries.clone();
            shown.sort();
            let mut want = vec![value.clone(), KEYER2_TYPES_WRONG.1.to_string()];
            want.sort();
            assert_eq!(shown, want, "both entries shown");
            // Take the wrong one first, then type over it.
            let wrong_at = entries.iter().position(|e| e == KEYER2_TYPES_WRONG.1);
            key(
                c,
                if wrong_at == Some(0) {
                    Key::Up
                } else {
                    Key::Down
                },
            )
            .await;
            let taken = station(c).await;
            assert_eq!(
                taken["value"], KEYER2_TYPES_WRONG.1,
                "the arrow takes the entry"
            );
            keys(
                c,
                &Key::Backspace
                    .to_string()
                    .repeat(KEYER2_TYPES_WRONG.1.len()),
            )
            .await;
            keys(c, &value).await;
            assert_eq!(station(c).await["value"], value.as_str());
        } else {
            panic!("{field} was not meant to be in conflict: {s:#}");
        }
        key(c, Key::Enter).await;
        arbitrated.push(Done {
            field,
            kind: "arbitrate".into(),
        });
    }
    wait_until(c, "no conflicts left", 20, |s| s["state"] == "idle").await;
    sign_out_keys(c).await;
    wait_path(c, "/login").await;
    c.goto(&format!("{base}/station")).await.unwrap();
    wait_path(c, "/login").await;
    c.clone().close().await.unwrap();
    let keying_done = started.elapsed();

    // The package appears by itself, with the values and their provenance.
    let deadline = Instant::now() + Duration::from_secs(60);
    let index_path = loop {
        let p = util::package_of(&out, doc_id).join(util::INDEX);
        if p.is_file() {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no package of {doc_id} under {} within 60 s",
            out.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let packaged = started.elapsed();
    bagit_validate(&util::package_of(&out, doc_id));
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    let conflicts = [KEYER2_TYPES_WRONG.0, KEYER2_SAYS_ILLEGIBLE];
    let mut pseudonyms = BTreeSet::new();
    let mut arbiters = BTreeSet::new();
    for field in fields {
        let f = &index["fields"][field];
        assert_eq!(
            f["value"].as_str(),
            Some(truth[field].as_str()),
            "{field}: {f:#}"
        );
        let want = if conflicts.contains(&field.as_str()) {
            "arbitrated"
        } else {
            "double_keyed"
        };
        assert_eq!(f["source"], want, "{field}: {f:#}");
        let keyers: Vec<&str> = f["keyers"]
            .as_array()
            .unwrap_or_else(|| panic!("{field}: keyers listed: {f:#}"))
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let distinct: BTreeSet<&str> = keyers.iter().copied().collect();
        assert_eq!(distinct.len(), 2, "{field}: two keyers: {f:#}");
        for k in &keyers {
            assert!(
                !["keyer1", "keyer2", "arb", "sup"].contains(k),
                "{field}: a user name in the package: {f:#}"
            );
        }
        pseudonyms.extend(keyers.iter().map(|k| k.to_string()));
        if want == "arbitrated" {
            arbiters.insert(f["arbiter"].as_str().unwrap_or("").to_string());
        }
    }
    assert_eq!(
        pseudonyms.len(),
        2,
        "the same two keyers behind every field: {pseudonyms:?}"
    );
    assert!(
        !std::fs::read_to_string(&index_path)
            .unwrap()
            .contains("keyer1"),
        "no user name anywhere in the index"
    );

    // The page's measurements reached the per-person figures.
    let sup = station::Client::login(base, "sup", PASSWORD).await;
    let stats: Value = sup.get("/api/v1/stats/keyers").await.json().await.unwrap();
    let pseudonym = check_stats(&stats, &typed_keys, fields.len());
    assert_eq!(
        pseudonyms,
        BTreeSet::from([pseudonym["keyer1"].clone(), pseudonym["keyer2"].clone()]),
        "the index names the two keyers by their pseudonyms"
    );
    assert_eq!(
        arbiters,
        BTreeSet::from([pseudonym["arb"].clone()]),
        "the arbiter by pseudonym"
    );

    switch_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    eprintln!(
        "station_browser: OCR {:.1} s, keying by three people {:.1} s, package after {:.1} s; \
         Enter to next field (n={}): median {:.0} ms, max {:.0} ms; keyed {:?}, arbitrated {:?}",
        ocr_done.as_secs_f64(),
        (keying_done - ocr_done).as_secs_f64(),
        packaged.as_secs_f64(),
        switch_ms.len(),
        switch_ms
            .get(switch_ms.len() / 2)
            .copied()
            .unwrap_or(f64::NAN),
        switch_ms.last().copied().unwrap_or(f64::NAN),
        keyings
            .iter()
            .map(|(k, d)| (k, d.len()))
            .collect::<Vec<_>>(),
        arbitrated
            .iter()
            .map(|d| (&d.field, &d.kind))
            .collect::<Vec<_>>(),
    );
}

/// Natural size of the image on screen, once loaded.
async fn snippet_size(c: &Client) -> (u64, u64) {
    wait_image(c, "").await
}

/// Waits until the snippet on screen is loaded and its URL contains
/// `part` (without `context=` when `part` is empty); its natural size.
async fn wait_image(c: &Client, part: &str) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = js(
            c,
            r#"const i = document.getElementById("snippet");
               return i ? {src: i.src, done: i.complete, w: i.naturalWidth, h: i.naturalHeight} : null;"#,
        )
        .await;
        let src = v["src"].as_str().unwrap_or("");
        let right = if part.is_empty() {
            !src.contains("context=")
        } else {
            src.contains(part)
        };
        if right && v["done"] == true && v["w"].as_u64().unwrap_or(0) > 0 {
            return (v["w"].as_u64().unwrap(), v["h"].as_u64().unwrap());
        }
        assert!(Instant::now() < deadline, "snippet {part:?} not shown: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn zoom(c: &Client) -> f64 {
    js(
        c,
        r#"const i = document.getElementById("snippet");
           return i.getBoundingClientRect().width / i.naturalWidth;"#,
    )
    .await
    .as_f64()
    .unwrap()
}

/// The per-keyer figures hold what the page measured: every key press
/// that changed the input, and active time no longer than the keyer's
/// time at the station. Returns each user's pseudonym.
fn check_stats(
    stats: &Value,
    typed: &BTreeMap<&str, (u64, Duration)>,
    fields: usize,
) -> BTreeMap<String, String> {
    let rows = stats["keyers"]
        .as_array()
        .unwrap_or_else(|| panic!("keyer figures: {stats:#}"));
    let row = |user: &str| -> &Value {
        rows.iter()
            .find(|r| r["user"] == user)
            .unwrap_or_else(|| panic!("no figures for {user}: {stats:#}"))
    };
    for (user, (presses, at_station)) in typed {
        let r = row(user);
        assert_eq!(r["fields"], fields as u64, "{user}: {r:#}");
        assert_eq!(
            r["keystrokes"].as_u64(),
            Some(*presses),
            "{user}: the page counts every key press that changes the input: {r:#}"
        );
        let active = r["active_hours"].as_f64().unwrap() * 3600.0;
        assert!(
            active > 0.0 && active <= at_station.as_secs_f64() + 1.0,
            "{user}: active {active:.1} s of {at_station:?} at the station: {r:#}"
        );
    }
    assert_eq!(row("keyer1")["errors"], 0, "{stats:#}");
    assert_eq!(
        row("keyer2")["errors"],
        2,
        "the wrong value and the illegible: {stats:#}"
    );
    assert_eq!(row("arb")["decisions"], 2, "{stats:#}");
    rows.iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap().to_string(),
                r["pseudonym"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A field left on screen past its lease: the submit is refused (409),
/// the page says so, drops it, gives back the prefetched field whose
/// lease ran out too, and goes on; every field is still keyed once.
#[tokio::test]
async fn a_field_whose_lease_ran_out_is_dropped_and_keying_goes_on() {
    if no_browser() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let st = stage("\n[keying]\nlease_seconds = 8\n").await;
    let (c, base, fields, truth) = (&st.c, st.base.as_str(), &st.fields, &st.truth);
    sign_in(c, base, "keyer1", PASSWORD).await;
    wait_path(c, "/station").await;
    let first = wait_until(c, "a field", 20, |s| s["state"] == "task").await;
    wait_until(c, "the lease shown as over", 15, |s| {
        s["lease"].as_str().unwrap().contains("over")
    })
    .await;
    // The page reads the lease to the second: let the server's end pass too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let field = first["field"].as_str().unwrap().to_string();
    keys(c, &truth[&field]).await;
    key(c, Key::Enter).await;
    let s = wait_until(c, "the refusal and a field again", 20, |s| {
        s["message"].as_str().unwrap().contains("Dropped") && s["state"] == "task"
    })
    .await;
    assert_eq!(
        s["value"], "",
        "a fresh input for the field now shown: {s:#}"
    );
    assert_eq!(s["focus"], "value");

    // Now quickly, each within its lease, until nothing is left.
    let mut keyed = BTreeSet::new();
    let mut prev = String::new();
    loop {
        let s = wait_until(c, "a field or none", 20, |s| {
            s["state"] == "idle" || (s["state"] == "task" && s["task"].as_str() != Some(&prev))
        })
        .await;
        if s["state"] == "idle" {
            break;
        }
        prev = s["task"].as_str().unwrap().to_string();
        let field = s["field"].as_str().unwrap().to_string();
        assert!(
            keyed.insert(field.clone()),
            "{field} shown twice after it was keyed"
        );
        keys(c, &format!("{}{}", truth[&field], Key::Enter)).await;
    }
    assert_eq!(keyed.len(), fields.len(), "{keyed:?}");
    sign_out_keys(c).await;
    wait_path(c, "/login").await;
    c.clone().close().await.unwrap();

    // One recorded keying per field, none from the refused submit.
    let sup = station::Client::login(base, "sup", PASSWORD).await;
    let stats: Value = sup.get("/api/v1/stats/keyers").await.json().await.unwrap();
    let row = stats["keyers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user"] == "keyer1")
        .unwrap_or_else(|| panic!("{stats:#}"))
        .clone();
    assert_eq!(row["fields"], fields.len() as u64, "{row:#}");
}
