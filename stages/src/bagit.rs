//! BagIt (RFC 8493) tag files as text: declaration, manifests, bag-info.
//! No I/O: the pipeline's exporter hashes files and writes these strings.

use sha2::{Digest, Sha256};

/// The bag declaration, `bagit.txt`.
pub const DECLARATION: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

/// Lower-case hex SHA-256 of bytes in memory.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
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
