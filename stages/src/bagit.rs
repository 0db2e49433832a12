//! BagIt (RFC 8493) tag files as text: declaration, manifests, bag-info.
//! No I/O: the pipeline's exporter hashes files and writes these strings.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// The bag declaration, `bagit.txt`.
pub const DECLARATION: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

/// Lower-case hex SHA-256 of bytes in memory.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A manifest checksum algorithm (RFC 8493 names). SHA-256 and SHA-512
/// are written by default, as the reference tool does; MD5 and SM3 (the
/// Chinese national hash, GB/T 32905) where a client's transfer form asks
/// for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha256,
    Sha512,
    Md5,
    Sm3,
}

impl Algorithm {
    /// Every algorithm Folio writes and checks.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Md5,
        Algorithm::Sm3,
    ];

    /// The name in `manifest-<name>.txt`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Md5 => "md5",
            Algorithm::Sm3 => "sm3",
        }
    }

    /// The algorithm a manifest file name names, if Folio knows it.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Length of a hex digest.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 | Algorithm::Sm3 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// Hashes one stream with several algorithms in one pass over its bytes.
pub struct MultiHasher {
    states: Vec<(Algorithm, State)>,
}

enum State {
    Sha256(Sha256),
    Sha512(Sha512),
    Md5(md5::Md5),
    Sm3(sm3::Sm3),
}

impl MultiHasher {
    /// A hasher for each of `algorithms`.
    pub fn new(algorithms: &[Algorithm]) -> Self {
        let states = algorithms
            .iter()
            .map(|&a| {
                let s = match a {
                    Algorithm::Sha256 => State::Sha256(Sha256::new()),
                    Algorithm::Sha512 => State::Sha512(Sha512::new()),
                    Algorithm::Md5 => State::Md5(<md5::Md5 as md5::Digest>::new()),
                    Algorithm::Sm3 => State::Sm3(<sm3::Sm3 as sm3::Digest>::new()),
                };
                (a, s)
            })
            .collect();
        Self { states }
    }

    /// Feeds bytes to every algorithm.
    pub fn update(&mut self, bytes: &[u8]) {
        for (_, s) in &mut self.states {
            match s {
                State::Sha256(h) => h.update(bytes),
                State::Sha512(h) => h.update(bytes),
                State::Md5(h) => md5::Digest::update(h, bytes),
                State::Sm3(h) => sm3::Digest::update(h, bytes),
            }
        }
    }

    /// The hex digests, in the order the algorithms were given.
    pub fn finish(self) -> Vec<(Algorithm, String)> {
        self.states
            .into_iter()
            .map(|(a, s)| {
                let hexed = match s {
                    State::Sha256(h) => hex(&h.finalize()),
                    State::Sha512(h) => hex(&h.finalize()),
                    State::Md5(h) => hex(&md5::Digest::finalize(h)),
                    State::Sm3(h) => hex(&sm3::Digest::finalize(h)),
                };
                (a, hexed)
            })
            .collect()
    }
}

/// Hex digests of bytes in memory.
pub fn digests(bytes: &[u8], algorithms: &[Algorithm]) -> Vec<(Algorithm, String)> {
    let mut h = MultiHasher::new(algorithms);
    h.update(bytes);
    h.finish()
}

/// Decodes a manifest path (the reverse of `encode_path`).
pub fn decode_path(path: &str) -> String {
    path.replace("%0D", "\r")
        .replace("%0d", "\r")
        .replace("%0A", "\n")
        .replace("%0a", "\n")
        .replace("%25", "%")
}

/// Parses a manifest's lines into `(path, checksum)`; a line that is not
/// `checksum  path` is returned as an error with its line number.
pub fn parse_manifest(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((sum, path)) = line.split_once(char::is_whitespace) else {
            return Err(format!("line {}: not \"checksum  path\"", n + 1));
        };
        let path = path.trim_start();
        if path.is_empty() {
            return Err(format!("line {}: no path", n + 1));
        }
        out.push((decode_path(path), sum.to_ascii_lowercase()));
    }
    Ok(out)
}

/// Parses `bag-info.txt` into its labelled values (continuation lines,
/// which start with white space, are joined to the value before).
pub fn parse_bag_info(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes the characters RFC 8493 §2.1.3 requires in manifest
/// paths (`%`, CR, LF).
pub fn encode_path(path: &str) -> String {
    path.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A manifest: one `checksum  path` line per entry, sorted by path so the
/// same bag always gives the same bytes.
pub fn manifest(entries: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
        .iter()
        .map(|(path, sum)| format!("{sum}  {}\n", encode_path(path)))
        .collect()
}

/// `bag-info.txt`: the given metadata plus Payload-Oxum (bytes.count), so a
/// validator spots a missing or extra file without hashing.
pub fn bag_info(metadata: &[(String, String)], payload_bytes: u64, payload_files: u64) -> String {
    let mut out = String::new();
    for (k, v) in metadata {
        // Values are single-line by rule; fold any line break to a space.
        out.push_str(&format!("{k}: {}\n", v.replace(['\r', '\n'], " ")));
    }
    out.push_str(&format!("Payload-Oxum: {payload_bytes}.{payload_files}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_sorted_and_encoded() {
        let m = manifest(&[
            ("data/b%1.txt".into(), "bb".into()),
            ("data/a\n.txt".into(), "aa".into()),
        ]);
        assert_eq!(m, "aa  data/a%0A.txt\nbb  data/b%251.txt\n");
    }

    #[test]
    fn every_algorithm_gives_its_known_digest_of_abc() {
        let d = digests(b"abc", &Algorithm::ALL);
        assert_eq!(d[0].1, sha256_hex(b"abc"));
        assert!(d[1].1.starts_with("ddaf35a193617aba"));
        assert_eq!(d[2].1, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            d[3].1,
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        for (a, h) in &d {
            assert_eq!(h.len(), a.hex_len());
            assert_eq!(Algorithm::from_name(a.name()), Some(*a));
        }
    }

    #[test]
    fn manifests_and_bag_info_parse_back() {
        let m = manifest(&[("data/a%\n.txt".into(), "AA".into())]);
        assert_eq!(
            parse_manifest(&m).unwrap(),
            vec![("data/a%\n.txt".to_string(), "aa".to_string())]
        );
        assert!(parse_manifest("justonefield\n").is_err());
        let info = parse_bag_info("A: 1\nB: two\n  more\n");
        assert_eq!(info[1], ("B".into(), "two more".into()));
    }

    #[test]
    fn known_digest_and_oxum() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(
            bag_info(&[("Source-Organization".into(), "A\nB".into())], 10, 2)
                .contains("A B\nPayload-Oxum: 10.2\n")
        );
    }
}
