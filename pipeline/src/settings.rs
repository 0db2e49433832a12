//! Settings: `folio.toml` and the class files, read once, validated, and
//! turned into `Settings`. Later code takes only `&Settings`, so every
//! config error surfaces at start-up with the file that caused it.

use folio_stages::bagit::Algorithm;
use folio_stages::decode::DecodeLimits;
use folio_stages::encode::DerivedFormat;
use folio_stages::extract::{FieldSet, FieldSpec};
use folio_stages::prepare::ImageOptions;
use folio_stages::recognize::OcrOptions;
use folio_stages::rescan::RescanOptions;
use folio_stages::review::{Flag, FlagThresholds};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::FolioError;

/// `folio.toml` as written; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// Folio's own data folder (SQLite file, logs); relative to the file.
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH?mode=rwc` or `postgres://…`; FOLIO_DATABASE_URL wins.
    pub database_url: Option<String>,
    /// Folio's object store (originals and derived pages); a shared mount
    /// when several hosts work. Default `<data_dir>/objects`;
    /// FOLIO_OBJECTS_DIR wins.
    pub objects_dir: Option<PathBuf>,
    /// Folder of class files; relative to the file.
    pub classes_dir: Option<PathBuf>,
    /// Class used when `--class` is not given.
    pub default_class: Option<String>,
    /// OCR workers; 0 = one per core.
    pub workers: usize,
    /// Name written to each package's bag-info `Source-Organization`.
    pub organization: Option<String>,
    pub ocr: OcrOptions,
    pub decode: DecodeLimits,
    pub image: ImageOptions,
    pub rescan: RescanOptions,
    pub work: WorkOptions,
    pub web: WebOptions,
    pub keying: KeyingOptions,
    pub watch: WatchOptions,
    pub acceptance: AcceptanceOptions,
    pub delivery: DeliveryOptions,
    pub review: RawReviewOptions,
}

/// `[review]` as written: which flags hold a document for a person's
/// decision, and the confidences below which a finding is flagged.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawReviewOptions {
    /// Flag names that hold a document until decided; `[]` packages
    /// unattended.
    pub hold: Vec<String>,
    /// Blank back sides (even pages of a document) are dropped without
    /// asking.
    pub drop_blank_backs: bool,
    /// Orientation confidence (0..1) below which a page is flagged.
    pub min_orientation_confidence: f32,
    /// Skew confidence (0..1) below which a page with text lines is
    /// flagged.
    pub min_deskew_confidence: f32,
}

impl Default for RawReviewOptions {
    fn default() -> Self {
        RawReviewOptions {
            hold: vec!["page_count".into()],
            drop_blank_backs: false,
            min_orientation_confidence: ReviewOptions::DEFAULT_MIN_ORIENTATION,
            min_deskew_confidence: ReviewOptions::DEFAULT_MIN_DESKEW,
        }
    }
}

/// `[review]`, validated: the holding flags are known flags.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewOptions {
    /// Flags that hold a document until a person decides each flagged page.
    pub hold: Vec<Flag>,
    /// Record a `drop` decision for blank even pages automatically.
    pub drop_blank_backs: bool,
    /// The confidences below which orientation and skew are flagged.
    pub thresholds: FlagThresholds,
}

impl ReviewOptions {
    /// Default orientation floor: below every correctly turned page of
    /// the samples and the deskew set (lowest 0.012, a landscape
    /// two-column page), so only a page the stage barely decided is flagged.
    pub const DEFAULT_MIN_ORIENTATION: f32 = 0.01;
    /// Default skew floor: text pages of the samples and the deskew set
    /// score 0.75 to 0.94; pages without text lines score 0 and are not
    /// flagged.
    pub const DEFAULT_MIN_DESKEW: f32 = 0.5;

    /// True when `flag` holds a document.
    pub fn holds(&self, flag: Flag) -> bool {
        self.hold.contains(&flag)
    }

    fn validated(raw: RawReviewOptions) -> Result<Self, String> {
        let mut hold = Vec::new();
        for name in &raw.hold {
            let flag: Flag = name.parse().map_err(|e| format!("[review] hold: {e}"))?;
            if !hold.contains(&flag) {
                hold.push(flag);
            }
        }
        for (key, v) in [
            ("min_orientation_confidence", raw.min_orientation_confidence),
            ("min_deskew_confidence", raw.min_deskew_confidence),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("[review] {key} must be within 0..1, got {v}"));
            }
        }
        Ok(ReviewOptions {
            hold,
            drop_blank_backs: raw.drop_blank_backs,
            thresholds: FlagThresholds {
                min_orientation_confidence: raw.min_orientation_confidence,
                min_deskew_confidence: raw.min_deskew_confidence,
            },
        })
    }
}

impl Default for ReviewOptions {
    fn default() -> Self {
        // The defaults are valid by construction.
        Self::validated(RawReviewOptions::default()).unwrap_or(ReviewOptions {
            hold: vec![Flag::PageCount],
            drop_blank_backs: false,
            thresholds: FlagThresholds {
                min_orientation_confidence: Self::DEFAULT_MIN_ORIENTATION,
                min_deskew_confidence: Self::DEFAULT_MIN_DESKEW,
            },
        })
    }
}

/// `[web]`: the keying station's server and its sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebOptions {
    /// Address `folio serve` listens on unless `--listen` says otherwise.
    pub listen: String,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: f64,
    /// Failed logins in a row that lock an account ...
    pub lockout_after: i64,
    /// ... for this many minutes.
    pub lockout_minutes: f64,
    /// Mark the session cookie `Secure`: `true`, `false`, or unset to
    /// decide per request (a TLS proxy's `X-Forwarded-Proto: https`).
    pub secure_cookies: Option<bool>,
    /// Decoded pages kept for cutting snippets (about 9 MB each for an
    /// A4 page at 300 dpi); 0 decodes the page for every snippet.
    pub snippet_cache_pages: usize,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            listen: "127.0.0.1:8080".into(),
            session_idle_minutes: 30.0,
            lockout_after: 5,
            lockout_minutes: 15.0,
            secure_cookies: None,
            snippet_cache_pages: 16,
        }
    }
}

/// `[watch]`: how `folio watch` decides a dropped batch is complete and
/// what it keeps; `[[watch.folders]]` binds each watch folder to a class,
/// an output folder and optionally an operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchOptions {
    /// Seconds in which no file of a batch folder may change size or
    /// mtime before a batch with neither marker nor manifest is taken.
    pub quiet_seconds: f64,
    /// Seconds between rescans of the watch folders (file events are only
    /// hints: network shares drop them).
    pub poll_seconds: f64,
    /// File the scanning station writes last to say a batch is complete.
    pub marker: String,
    /// Optional batch manifest (operator, scanner, class, references,
    /// expected page count); its appearance also completes a batch.
    pub manifest: String,
    /// Days a taken batch folder is kept under `<folder>/done/<date>/`.
    pub retain_days: f64,
    pub folders: Vec<WatchFolder>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            quiet_seconds: 30.0,
            poll_seconds: 10.0,
            marker: "READY".into(),
            manifest: "batch.toml".into(),
            retain_days: 30.0,
            folders: Vec::new(),
        }
    }
}

/// `[delivery]`: what each package carries for the archive, and how it
/// is checksummed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryOptions {
    /// Derived image of a bilevel master: `g4` (CCITT Group 4 TIFF,
    /// lossless for black and white) or `png`.
    pub derived_bilevel: DerivedFormat,
    /// Derived image of a greyscale or colour master: `jpeg` or `png`.
    pub derived_other: DerivedFormat,
    /// JPEG quality of derived pages, 1–100.
    pub jpeg_quality: u8,
    /// Manifests written in each package: `sha256` (always: the custody
    /// chain is SHA-256), `sha512`, `md5`, `sm3`.
    pub checksums: Vec<Algorithm>,
    /// Write the searchable PDF of each document.
    pub pdf: bool,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            derived_bilevel: DerivedFormat::G4,
            derived_other: DerivedFormat::Jpeg,
            jpeg_quality: 80,
            checksums: vec![Algorithm::Sha256, Algorithm::Sha512],
            pdf: true,
        }
    }
}

/// `[keying]`: how keyers hold tasks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyingOptions {
    /// Seconds a keyer holds a task; after that it goes back to the queue
    /// and a late submit is refused.
    pub lease_seconds: f64,
    /// Share (0..1) of the fields OCR accepts that also go to blind double
    /// keying as a QA sample: the keyed values measure how often an
    /// accepted value is wrong (`folio report accuracy`).
    pub qa_share: f64,
}

impl Default for KeyingOptions {
    fn default() -> Self {
        KeyingOptions {
            lease_seconds: 120.0,
            qa_share: 0.02,
        }
    }
}

/// `[acceptance]`: how an archive's inspector samples and judges a
/// delivery (ISO 2859-1 level II single sampling; DA/T 31 pass rate).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcceptanceOptions {
    /// AQL when `folio accept plan` is not given `--aql` (a column of
    /// ISO 2859-1 Table 2-A: 0.010 … 1000).
    pub aql: f64,
    /// Share of sampled pages that must pass (DA/T 31: 0.95).
    pub pass_rate: f64,
}

impl Default for AcceptanceOptions {
    fn default() -> Self {
        AcceptanceOptions {
            aql: 1.0,
            pass_rate: 0.95,
        }
    }
}

impl AcceptanceOptions {
    fn validated(self) -> Result<Self, String> {
        folio_stages::sampling::aql_index(self.aql)
            .map_err(|e| format!("[acceptance] aql: {e}"))?;
        if !(self.pass_rate > 0.0 && self.pass_rate <= 1.0) {
            return Err(format!(
                "[acceptance] pass_rate must be within (0, 1], got {}",
                self.pass_rate
            ));
        }
        Ok(self)
    }
}

/// One `[[watch.folders]]` entry: where operators drop batches and where
/// their packages go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchFolder {
    /// The drop folder; each sub-folder is a batch. Relative to the file.
    pub folder: PathBuf,
    /// Document class of its batches (a manifest may name another).
    pub class: Option<String>,
    /// Output folder for the packages. Relative to the file.
    pub out: PathBuf,
    /// Operator recorded on its batches when no manifest names one.
    pub operator: Option<String>,
}

/// `[work]`: how workers hold and give back pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkOptions {
    /// Seconds a claim lasts unless renewed (renewed every third of it);
    /// a dead worker's pages go to another worker after this long.
    pub lease_seconds: f64,
    /// How often an idle worker looks for new work, milliseconds.
    pub poll_ms: u64,
    /// Claims of one page before it is failed (a page that kills its
    /// worker every time must not stop the batch).
    pub max_attempts: i64,
    /// Seconds a stopping worker waits for pages in flight before it
    /// gives their leases back.
    pub shutdown_grace_seconds: f64,
    /// Seconds a worker waits out an unreachable database (retrying what
    /// was cut off) before it stops with the error.
    pub store_outage_seconds: f64,
}

impl WorkOptions {
    /// `store_outage_seconds` as a duration (0 when negative or not finite).
    pub fn outage(&self) -> std::time::Duration {
        std::time::Duration::try_from_secs_f64(self.store_outage_seconds).unwrap_or_default()
    }
}

impl Default for WorkOptions {
    fn default() -> Self {
        WorkOptions {
            lease_seconds: 60.0,
            poll_ms: 250,
            max_attempts: 5,
            shutdown_grace_seconds: 6.0,
            store_outage_seconds: 300.0,
        }
    }
}

/// How a batch's pages are cut into documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Each input file is one document (a multi-page TIFF is one document).
    File,
    /// Every `pages_per_document` pages make one document.
    Pages,
    /// The whole batch is one document.
    Batch,
    /// Barcode / patch-code separator sheets (not available yet).
    Separator,
}

/// A class file (`config/classes/NAME.toml`) as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClass {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Overrides `[ocr].languages` for this class.
    pub languages: Option<String>,
    /// Overrides `[ocr].segmentation` for this class (`auto`,
    /// `single_column`, `single_block`, `sparse`): a class of one-column
    /// transcripts or of sparse labels may read better or faster so.
    pub segmentation: Option<folio_stages::recognize::Segmentation>,
    /// What recognition reads: `page` (default) or `fields`.
    #[serde(default)]
    pub recognize: Recognize,
    /// Fields below this confidence (0..1) go to keying; 1 keys every field.
    #[serde(default = "default_threshold")]
    pub confidence_threshold: f32,
    #[serde(default = "default_split")]
    pub split: Split,
    pub pages_per_document: Option<u32>,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    /// How the package's `metadata.csv` fills its Dublin Core columns.
    #[serde(default)]
    pub dublin_core: DublinCore,
}

/// What recognition reads on a class's pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recognize {
    /// The whole page: the package's text, hOCR and searchable PDF hold
    /// every word.
    #[default]
    Page,
    /// Only the boxes of the class's fields, each a zone on the page: for
    /// data-entry work that delivers index fields and no full text. A form
    /// is read in a fraction of the time; the text, hOCR and PDF text
    /// layer then hold the fields' words only.
    Fields,
}

/// Margin read around each field zone when a class reads its fields
/// only: a word on the zone's edge is read whole, not cut.
pub const FIELD_ZONE_MARGIN_MM: f32 = 2.0;

/// `[dublin_core]` of a class: templates for the archive's descriptive
/// metadata. `{field}` is an index field's final value; `{document}`,
/// `{class}` and `{batch}` are the document id, class and batch names.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DublinCore {
    pub title: String,
    pub identifier: String,
    pub date: String,
}

impl Default for DublinCore {
    fn default() -> Self {
        DublinCore {
            title: "{class} {document}".into(),
            identifier: "{document}".into(),
            date: String::new(),
        }
    }
}

fn default_threshold() -> f32 {
    0.85
}
fn default_split() -> Split {
    Split::File
}

/// A validated document class.
#[derive(Debug, Clone)]
pub struct DocClass {
    pub name: String,
    pub languages: String,
    /// Page segmentation for this class's pages (`[ocr].segmentation`
    /// unless the class file sets its own).
    pub segmentation: Option<folio_stages::recognize::Segmentation>,
    /// The whole page, or the fields' zones only.
    pub recognize: Recognize,
    pub confidence_threshold: f32,
    pub split: Split,
    /// Pages per document when `split = "pages"`.
    pub pages_per_document: u32,
    pub fields: FieldSet,
    pub field_names: Vec<String>,
    pub dublin_core: DublinCore,
}

/// Everything a command needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub objects_dir: PathBuf,
    pub database_url: String,
    pub workers: usize,
    pub organization: String,
    pub ocr: OcrOptions,
    pub decode: DecodeLimits,
    pub image: ImageOptions,
    pub rescan: RescanOptions,
    pub work: WorkOptions,
    pub web: WebOptions,
    pub keying: KeyingOptions,
    pub watch: WatchOptions,
    pub acceptance: AcceptanceOptions,
    pub delivery: DeliveryOptions,
    pub review: ReviewOptions,
    pub classes: BTreeMap<String, DocClass>,
    pub default_class: String,
    /// The file the settings came from, for messages.
    pub source: Option<PathBuf>,
}

impl Settings {
    /// Loads settings: `path` if given, else `FOLIO_CONFIG`, else
    /// `config/folio.toml` under the current folder if present, else the
    /// built-in defaults (one class, `general`, with no fields).
    pub fn load(path: Option<&Path>) -> Result<Settings, FolioError> {
        let chosen = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("FOLIO_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("config/folio.toml")).filter(|p| p.is_file()));
        match chosen {
            Some(file) => {
                let text = std::fs::read_to_string(&file).map_err(|e| FolioError::Config {
                    file: file.clone(),
                    reason: e.to_string(),
                })?;
                let raw: RawConfig = toml::from_str(&text).map_err(|e| FolioError::Config {
                    file: file.clone(),
                    reason: e.to_string(),
                })?;
                let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
                Self::from_raw(raw, &base, Some(file))
            }
            None => Self::from_raw(RawConfig::default(), Path::new("."), None),
        }
    }

    /// Validates a raw config whose relative paths are under `base`.
    pub fn from_raw(
        raw: RawConfig,
        base: &Path,
        source: Option<PathBuf>,
    ) -> Result<Settings, FolioError> {
        let cfg_err = |reason: String| FolioError::Config {
            file: source.clone().unwrap_or_default(),
            reason,
        };
        let data_dir = match std::env::var_os("FOLIO_DATA_DIR") {
            Some(d) => PathBuf::from(d),
            None => raw
                .data_dir
                .map(|d| base.join(d))
                .unwrap_or_else(default_data_dir),
        };
        let objects_dir = match std::env::var_os("FOLIO_OBJECTS_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => raw
                .objects_dir
                .map(|d| base.join(d))
                .unwrap_or_else(|| data_dir.join("objects")),
        };
        let work = raw.work;
        if !(work.lease_seconds.is_finite() && work.lease_seconds >= 1.0) {
            return Err(cfg_err(format!(
                "[work] lease_seconds must be at least 1, got {}",
                work.lease_seconds
            )));
        }
        if !(raw.keying.lease_seconds.is_finite() && raw.keying.lease_seconds >= 1.0) {
            return Err(cfg_err(format!(
                "[keying] lease_seconds must be at least 1, got {}",
                raw.keying.lease_seconds
            )));
        }
        if !(0.0..=1.0).contains(&raw.keying.qa_share) {
            return Err(cfg_err(format!(
                "[keying] qa_share must be between 0 and 1 (a share, 0.02 = 2 %), got {}",
                raw.keying.qa_share
            )));
        }
        if !(raw.web.session_idle_minutes > 0.0 && raw.web.lockout_after >= 1) {
            return Err(cfg_err(
                "[web] session_idle_minutes must be above 0 and lockout_after at least 1"
                    .to_string(),
            ));
        }
        if work.max_attempts < 1 {
            return Err(cfg_err(format!(
                "[work] max_attempts must be at least 1, got {}",
                work.max_attempts
            )));
        }
        let mut delivery = raw.delivery;
        if delivery.derived_other == DerivedFormat::G4 {
            return Err(cfg_err(
                "[delivery] derived_other = \"g4\" would threshold grey and colour pages to black and white; use \"jpeg\" or \"png\"".into(),
            ));
        }
        if !(1..=100).contains(&delivery.jpeg_quality) {
            return Err(cfg_err(format!(
                "[delivery] jpeg_quality must be 1 to 100, got {}",
                delivery.jpeg_quality
            )));
        }
        if !delivery.checksums.contains(&Algorithm::Sha256) {
            // Custody is proved in SHA-256 (recorded at arrival).
            delivery.checksums.insert(0, Algorithm::Sha256);
        }
        delivery.checksums.sort();
        delivery.checksums.dedup();
        let mut watch = raw.watch;
        if !(watch.quiet_seconds.is_finite() && watch.quiet_seconds >= 0.0) {
            return Err(cfg_err(format!(
                "[watch] quiet_seconds must be 0 or more, got {}",
                watch.quiet_seconds
            )));
        }
        if !(watch.poll_seconds.is_finite() && watch.poll_seconds > 0.0) {
            return Err(cfg_err(format!(
                "[watch] poll_seconds must be more than 0, got {}",
                watch.poll_seconds
            )));
        }
        for name in [&watch.marker, &watch.manifest] {
            if name.is_empty() || name.contains('/') {
                return Err(cfg_err(format!(
                    "[watch] marker and manifest must be plain file names, got '{name}'"
                )));
            }
        }
        for f in &mut watch.folders {
            f.folder = base.join(&f.folder);
            f.out = base.join(&f.out);
        }
        let database_url = match std::env::var("FOLIO_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => raw
                .database_url
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| {
                    format!("sqlite://{}?mode=rwc", data_dir.join("folio.db").display())
                }),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            return Err(cfg_err(format!(
                "database URL must start with sqlite: or postgres: (got {})",
                redact(&database_url)
            )));
        }
        let mut classes = BTreeMap::new();
        if let Some(dir) = raw.classes_dir.map(|d| base.join(d)) {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| cfg_err(format!("classes_dir {}: {e}", dir.display())))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for file in files {
                let class = load_class(&file, &raw.ocr.languages)?;
                if classes.contains_key(&class.name) {
                    return Err(FolioError::Config {
                        file,
                        reason: format!(
                            "class '{}' is already defined by another file in {}",
                            class.name,
                            dir.display()
                        ),
                    });
                }
                classes.insert(class.name.clone(), class);
            }
        }
        if classes.is_empty() {
            let general = RawClass {
                name: "general".into(),
                description: "Any pages; no index fields.".into(),
                languages: None,
                segmentation: None,
                recognize: Recognize::Page,
                confidence_threshold: default_threshold(),
                split: Split::File,
                pages_per_document: None,
                fields: Vec::new(),
                dublin_core: DublinCore::default(),
            };
            let class = validate_class(general, &raw.ocr.languages, Path::new("(built-in)"))?;
            classes.insert(class.name.clone(), class);
        }
        let default_class = raw.default_class.unwrap_or_else(|| "general".into());
        if !classes.contains_key(&default_class) {
            return Err(cfg_err(format!(
                "default_class '{default_class}' has no class file (known: {})",
                classes.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let workers = if raw.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            raw.workers
        };
        Ok(Settings {
            data_dir,
            objects_dir,
            work,
            web: raw.web,
            keying: raw.keying,
            acceptance: raw.acceptance.validated().map_err(&cfg_err)?,
            watch,
            delivery,
            review: ReviewOptions::validated(raw.review).map_err(&cfg_err)?,
            database_url,
            workers,
            organization: raw.organization.unwrap_or_else(|| "Folio".into()),
            ocr: raw.ocr,
            decode: raw.decode,
            image: raw.image,
            rescan: raw.rescan,
            classes,
            default_class,
            source,
        })
    }

    /// A configuration error blamed on these settings' file (engines that
    /// will not start: missing languages or models are set-up problems).
    pub fn config_error(&self, reason: impl std::fmt::Display) -> FolioError {
        FolioError::Config {
            file: self
                .source
                .clone()
                .unwrap_or_else(|| PathBuf::from("(built-in settings)")),
            reason: reason.to_string(),
        }
    }

    /// The class named `name`, or the default one.
    pub fn class(&self, name: Option<&str>) -> Result<&DocClass, FolioError> {
        let name = name.unwrap_or(&self.default_class);
        self.classes
            .get(name)
            .ok_or_else(|| FolioError::UnknownClass {
                name: name.to_string(),
                known: self.classes.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }
}

fn load_class(file: &Path, default_languages: &str) -> Result<DocClass, FolioError> {
    let err = |reason: String| FolioError::Config {
        file: file.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(file).map_err(|e| err(e.to_string()))?;
    let raw: RawClass = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
    validate_class(raw, default_languages, file)
}

fn validate_class(
    raw: RawClass,
    default_languages: &str,
    file: &Path,
) -> Result<DocClass, FolioError> {
    let err = |reason: String| FolioError::Config {
        file: file.to_path_buf(),
        reason,
    };
    if !(0.0..=1.0).contains(&raw.confidence_threshold) {
        return Err(err(format!(
            "confidence_threshold must be within 0..1 (1 sends every field to keying), got {}",
            raw.confidence_threshold
        )));
    }
    let pages_per_document = match (raw.split, raw.pages_per_document) {
        (Split::Pages, Some(n)) if n > 0 => n,
        (Split::Pages, _) => {
            return Err(err("split = \"pages\" needs pages_per_document ≥ 1".into()));
        }
        (Split::Separator, _) => {
            return Err(err(
                "split = \"separator\" (barcode/patch-code sheets) is not available yet".into(),
            ));
        }
        (_, _) => 0,
    };
    let mut seen = std::collections::BTreeSet::new();
    for f in &raw.fields {
        if f.name.trim().is_empty() {
            return Err(err("a field has an empty name".into()));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(err(format!(
                "field '{}' is declared twice (field names must be unique in a class)",
                f.name
            )));
        }
    }
    let fields = FieldSet::new(&raw.fields).map_err(|e| err(e.to_string()))?;
    if raw.recognize == Recognize::Fields {
        if fields.is_empty() {
            return Err(err(
                "recognize = \"fields\" reads the fields' zones only, and the class has no fields"
                    .into(),
            ));
        }
        if let Some(name) = fields.first_not_on_page() {
            return Err(err(format!(
                "recognize = \"fields\" reads the fields' zones only, so every field needs a zone on the page \
                 (zone = {{ dx, dy, w, h }} without anchor); field '{name}' is found another way: \
                 give it a page zone or read the whole page (recognize = \"page\")"
            )));
        }
    }
    Ok(DocClass {
        name: raw.name,
        languages: raw
            .languages
            .unwrap_or_else(|| default_languages.to_string()),
        segmentation: raw.segmentation,
        recognize: raw.recognize,
        confidence_threshold: raw.confidence_threshold,
        split: raw.split,
        pages_per_document,
        fields,
        field_names: raw.fields.iter().map(|f| f.name.clone()).collect(),
        dublin_core: raw.dublin_core,
    })
}

fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("folio");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/folio"),
        None => PathBuf::from(".folio"),
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn unknown_keys_and_bad_classes_are_config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("folio.toml");
        std::fs::write(&cfg, "workerz = 3\n").unwrap();
        let err = Settings::load(Some(&cfg)).unwrap_err();
        assert!(err.to_string().contains("workerz"), "{err}");

        std::fs::create_dir(dir.path().join("classes")).unwrap();
        std::fs::write(&cfg, "classes_dir = \"classes\"\ndefault_class = \"a\"\n").unwrap();
        std::fs::write(
            dir.path().join("classes/a.toml"),
            "name = \"a\"\nsplit = \"pages\"\n",
        )
        .unwrap();
        let err = Settings::load(Some(&cfg)).unwrap_err();
        assert!(err.to_string().contains("pages_per_document"), "{err}");
    }

    #[test]
    fn bad_zones_and_links_in_a_class_file_are_config_errors_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("folio.toml");
        std::fs::create_dir(dir.path().join("classes")).unwrap();
        std::fs::write(&cfg, "classes_dir = \"classes\"\ndefault_class = \"f\"\n").unwrap();
        let class = dir.path().join("classes/f.toml");
        let load = |fields: &str| {
            std::fs::write(&class, format!("name = \"f\"\n{fields}")).unwrap();
            Settings::load(Some(&cfg))
        };
        // Good: a zone (unit defaults to mm, pattern to free text) and a
        // linked answer.
        let s = load(
            "[[fields]]\nname = \"d\"\nzone = { anchor = \"Date:\", dx = 20, dy = 0, w = 40, h = 6 }\n\
             [[fields]]\nname = \"to\"\nlabels = [\"To\"]\nfind = \"right_or_below\"\n",
        )
        .unwrap();
        let spec = s.classes["f"].fields.spec("d").unwrap();
        assert_eq!(spec.pattern, folio_stages::extract::FREE_TEXT);
        assert_eq!(
            spec.zone.as_ref().unwrap().unit,
            folio_stages::extract::Unit::Mm
        );
        for (fields, want) in [
            (
                "[[fields]]\nname = \"d\"\nfind = \"left\"\n",
                "right_or_below",
            ),
            (
                "[[fields]]\nname = \"d\"\nzone = { dx = 1, dy = 1, w = 1, h = 1, unit = \"cm\" }\n",
                "cm",
            ),
            (
                "[[fields]]\nname = \"d\"\nzone = { dx = 1, dy = 1, w = -1, h = 1 }\n",
                "zone w and h must be more than 0",
            ),
            (
                "[[fields]]\nname = \"d\"\nzone = { dx = 1, dy = 1, w = 1 }\n",
                "missing field `h`",
            ),
            (
                "[[fields]]\nname = \"d\"\nfind = \"right_or_below\"\n",
                "needs at least one label",
            ),
            (
                "[[fields]]\nname = \"d\"\nfind = \"zone\"\nlabels = [\"Date\"]\n",
                "needs zone",
            ),
        ] {
            let err = load(fields).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(&err, FolioError::Config { file, .. } if file == &class),
                "{text}"
            );
            assert!(text.contains(want), "{fields}: {text}");
        }
    }

    #[test]
    fn the_shipped_classes_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/folio.toml");
        let s = Settings::load(Some(&root)).unwrap();
        let funsd = s.class(Some("funsd")).unwrap();
        assert_eq!(funsd.languages, "eng");
        assert!(funsd.field_names.iter().any(|f| f == "date"));
    }

    #[test]
    fn review_hold_takes_known_flags_only() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("folio.toml");
        std::fs::write(&cfg, "").unwrap();
        let s = Settings::load(Some(&cfg)).unwrap();
        assert_eq!(s.review.hold, vec![Flag::PageCount]);
        assert!(!s.review.drop_blank_backs);
        std::fs::write(
            &cfg,
            "[review]\nhold = [\"blank\", \"qc\"]\ndrop_blank_backs = true\n",
        )
        .unwrap();
        let s = Settings::load(Some(&cfg)).unwrap();
        assert_eq!(s.review.hold, vec![Flag::Blank, Flag::Qc]);
        assert!(s.review.drop_blank_backs);
        std::fs::write(&cfg, "[review]\nhold = [\"blank\", \"smudge\"]\n").unwrap();
        let err = Settings::load(Some(&cfg)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("[review] hold") && msg.contains("smudge") && msg.contains("page_count"),
            "{msg}"
        );
        assert_eq!(err.exit_code(), crate::error::ExitCode::Usage);
    }
}
