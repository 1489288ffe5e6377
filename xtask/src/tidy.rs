//! `cargo xtask tidy`: the conventions of this repository, checked mechanically.
//!
//! It reads the files from the repository root and the output of `cargo metadata`, and reports
//! each finding as `file:line: rule: what is wrong`. The same check runs as a test (`tidy` below),
//! so `cargo test --workspace` fails on a new finding.
//!
//! This file is skipped by the text rules: it has to spell the very patterns it looks for.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The only Rust sources allowed to name the `oauth2` crate (`oauth2::` paths, `use oauth2`).
///
/// An entry ending in `/` allows a whole directory. Tighten this list as the code allows.
const OAUTH2_ALLOWED: &[&str] = &[
    // The flow crate's one module for `oauth2`: everything else in the flow talks to it.
    "crates/flow/src/oauth.rs",
    // The benchmarks compare against the `oauth2` crate used directly.
    "crates/bench/",
];

/// Findings tolerated for now, as (file, rule): each must be fixed and its entry removed.
///
/// An entry that no longer matches a finding is itself an error, so this list only shrinks.
const KNOWN_FINDINGS: &[(&str, Rule)] = &[];

/// Directories never searched: build output, dependencies installed by tools, and hidden ones.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules"];

/// Runs every rule and prints the findings; fails on any finding not in [`KNOWN_FINDINGS`].
pub(crate) fn run() -> ExitCode {
    match check(&crate::project_root()) {
        Ok(report) => {
            print!("{report}");
            if report.passes() {
                println!("tidy: ok");
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("tidy: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A convention that tidy checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// `oauth2` is named only in [`OAUTH2_ALLOWED`].
    Oauth2Confined,
    /// A published crate has no normal or build dependency on an unpublished one.
    PublishedDependencies,
    /// Every `allow` or `expect` of a lint says why.
    AllowReason,
    /// Every crate inherits lints, version, edition and licence from the workspace.
    WorkspaceInheritance,
    /// A `repository` field, if present, is a real address.
    RepositoryUrl,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Self::Oauth2Confined => "oauth2-confined",
            Self::PublishedDependencies => "published-dependencies",
            Self::AllowReason => "allow-reason",
            Self::WorkspaceInheritance => "workspace-inheritance",
            Self::RepositoryUrl => "repository-url",
        }
    }
}

/// One breach of a rule, at a file (relative to the root, with `/` separators) and line (from 1).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    file: String,
    line: usize,
    rule: Rule,
    message: String,
}

impl Finding {
    fn new(file: &str, line: usize, rule: Rule, message: impl Into<String>) -> Self {
        Self { file: file.to_owned(), line, rule, message: message.into() }
    }

    fn is_known(&self) -> bool {
        KNOWN_FINDINGS.iter().any(|&(file, rule)| file == self.file && rule == self.rule)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.rule.name(), self.message)
    }
}

/// Everything tidy found, split into what fails the check and what [`KNOWN_FINDINGS`] tolerates.
struct Report {
    new: Vec<Finding>,
    known: Vec<Finding>,
    /// Entries of [`KNOWN_FINDINGS`] that match nothing any more.
    stale: Vec<(&'static str, Rule)>,
}

impl Report {
    fn from_findings(mut findings: Vec<Finding>) -> Self {
        findings.sort();
        let stale = KNOWN_FINDINGS
            .iter()
            .copied()
            .filter(|&(file, rule)| !findings.iter().any(|f| f.file == file && f.rule == rule))
            .collect();
        let (known, new) = findings.into_iter().partition(Finding::is_known);
        Self { new, known, stale }
    }

    fn passes(&self) -> bool {
        self.new.is_empty() && self.stale.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.new {
            writeln!(f, "{finding}")?;
        }
        for finding in &self.known {
            writeln!(f, "{finding} (known: listed in KNOWN_FINDINGS)")?;
        }
        for (file, rule) in &self.stale {
            writeln!(f, "{file}: {}: no such finding any more; remove it from KNOWN_FINDINGS", rule.name())?;
        }
        Ok(())
    }
}

/// Runs every rule over the repository at `root`.
fn check(root: &Path) -> Result<Report, String> {
    let root = root.canonicalize().map_err(|e| format!("cannot resolve {}: {e}", root.display()))?;
    let mut findings = Vec::new();

    let mut rust_files = Vec::new();
    collect_files(&root, &mut rust_files, "rs").map_err(|e| format!("cannot list the Rust sources: {e}"))?;
    for path in rust_files {
        let file = relative(&root, &path);
        if file == "xtask/src/tidy.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {file}: {e}"))?;
        check_oauth2(&file, &text, &mut findings);
        check_rust_allows(&file, &text, &mut findings);
    }

    let packages = workspace_packages(&root)?;
    let mut manifests = vec![("Cargo.toml".to_owned(), read(&root, "Cargo.toml")?)];
    for package in &packages {
        manifests.push((package.manifest.clone(), read(&root, &package.manifest)?));
    }
    for (file, text) in &manifests {
        check_manifest_allows(file, text, &mut findings);
        check_repository(file, text, &mut findings);
    }
    for (file, text) in &manifests[1..] {
        check_inheritance(file, text, &mut findings);
    }
    check_published_dependencies(&packages, &manifests, &mut findings);

    Ok(Report::from_findings(findings))
}

/// Rule `oauth2-confined`: `oauth2::` paths and `use oauth2` only where [`OAUTH2_ALLOWED`] says.
fn check_oauth2(file: &str, text: &str, findings: &mut Vec<Finding>) {
    let allowed =
        OAUTH2_ALLOWED.iter().any(|entry| if entry.ends_with('/') { file.starts_with(entry) } else { file == *entry });
    if allowed {
        return;
    }
    for (index, line) in text.lines().enumerate() {
        if names_oauth2(line) {
            let message = "names the `oauth2` crate outside the files OAUTH2_ALLOWED lists";
            findings.push(Finding::new(file, index + 1, Rule::Oauth2Confined, message));
        }
    }
}

/// Whether a line holds an `oauth2::` path or a `use oauth2` (but not, say, `yup_oauth2::`).
fn names_oauth2(line: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let path = line.match_indices("oauth2::").any(|(at, _)| !line[..at].ends_with(ident));
    let import = line
        .match_indices("use oauth2")
        .any(|(at, found)| !line[..at].ends_with(ident) && !line[at + found.len()..].starts_with(ident));
    path || import
}

/// Rule `allow-reason` in Rust: every `#[allow(`, `#![allow(`, `#[expect(` and `#![expect(` has
/// a `reason = "..."`, or a comment on its line or on the line just above (not a doc comment).
fn check_rust_allows(file: &str, text: &str, findings: &mut Vec<Finding>) {
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        for pattern in ["#[allow(", "#![allow(", "#[expect(", "#![expect("] {
            let Some(at) = line.find(pattern) else { continue };
            let attribute = attribute_text(&lines[index..], at);
            let has_reason = attribute.split("reason").skip(1).any(|rest| rest.trim_start().starts_with('='));
            let commented =
                line[at..].contains("//") || index.checked_sub(1).is_some_and(|above| is_comment(lines[above]));
            if !has_reason && !commented {
                let message = format!("`{pattern}...)]` without a reason: add `reason = \"...\"` or a comment");
                findings.push(Finding::new(file, index + 1, Rule::AllowReason, message));
            }
        }
    }
}

/// The text of the attribute starting at byte `at` of `lines[0]`, up to its closing `]`.
fn attribute_text(lines: &[&str], at: usize) -> String {
    let mut text = String::new();
    let mut depth = 0_usize;
    for (index, line) in lines.iter().enumerate().take(30) {
        let line = if index == 0 { &line[at..] } else { line };
        for c in line.chars() {
            text.push(c);
            match c {
                '[' => depth += 1,
                ']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return text;
                    }
                }
                _ => {}
            }
        }
        text.push('\n');
    }
    text
}

/// A plain `//` comment line; doc comments document the item, not the `allow` under them.
fn is_comment(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("//") && !line.starts_with("///") && !line.starts_with("//!")
}

/// Rule `allow-reason` in Cargo.toml: every lint set to `allow` in a `[lints]` or
/// `[workspace.lints]` table has a comment on its line or on the line just above.
fn check_manifest_allows(file: &str, text: &str, findings: &mut Vec<Finding>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut in_lints = false;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if let Some(table) = table_header(trimmed) {
            in_lints = table == "lints"
                || table.starts_with("lints.")
                || table == "workspace.lints"
                || table.starts_with("workspace.lints.");
            continue;
        }
        if !in_lints {
            continue;
        }
        let (entry, comment) = trimmed.split_once('#').unwrap_or((trimmed, ""));
        let Some((_, value)) = entry.split_once('=') else { continue };
        if !value.contains("\"allow\"") {
            continue;
        }
        let above = index.checked_sub(1).map(|above| lines[above].trim());
        let commented = !comment.trim().is_empty() || above.is_some_and(|above| above.starts_with('#'));
        if !commented {
            let message = "a lint set to `allow` without a reason: add a comment on its line or the line above";
            findings.push(Finding::new(file, index + 1, Rule::AllowReason, message));
        }
    }
}

/// Rule `repository-url`: a `repository` field, if present, is an `https` address that is not a
/// placeholder.
fn check_repository(file: &str, text: &str, findings: &mut Vec<Finding>) {
    const PLACEHOLDERS: &[&str] =
        &["example.invalid", "example.com", "example.org", "example.net", "localhost", "todo", "fixme", "xxx"];
    for (index, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim() != "repository" {
            continue;
        }
        let url = value.split('#').next().unwrap_or_default().trim().trim_matches('"');
        let lowered = url.to_ascii_lowercase();
        if !lowered.starts_with("https://") || PLACEHOLDERS.iter().any(|p| lowered.contains(p)) {
            let message =
                format!("`repository = \"{url}\"` is not a real address: give the real one or remove the field");
            findings.push(Finding::new(file, index + 1, Rule::RepositoryUrl, message));
        }
    }
}

/// Rule `workspace-inheritance`: a member's manifest takes `version`, `edition` and `license`
/// from `[workspace.package]` and its lints from `[workspace.lints]`.
fn check_inheritance(file: &str, text: &str, findings: &mut Vec<Finding>) {
    let mut table = String::new();
    let mut package_line = 1;
    let mut missing: BTreeSet<&str> = ["version", "edition", "license"].into_iter().collect();
    let mut lints_line = None;
    let mut lints_inherited = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = table_header(trimmed) {
            header.clone_into(&mut table);
            if table == "package" {
                package_line = index + 1;
            } else if table == "lints" {
                lints_line = Some(index + 1);
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else { continue };
        let (key, value) = (key.trim(), value.trim());
        let inherits = |field: &str| {
            (key == format!("{field}.workspace") && value.starts_with("true"))
                || (key == field && value.replace(' ', "").starts_with("{workspace=true"))
        };
        if table == "package" {
            for field in ["version", "edition", "license"] {
                if inherits(field) {
                    missing.remove(field);
                } else if key == field {
                    let message = format!("`{field}` is set here: write `{field}.workspace = true`");
                    findings.push(Finding::new(file, index + 1, Rule::WorkspaceInheritance, message));
                    missing.remove(field);
                }
            }
        } else if table == "lints" && key == "workspace" && value.starts_with("true") {
            lints_inherited = true;
        }
    }
    for field in missing {
        let message = format!("`{field}` is not inherited: add `{field}.workspace = true`");
        findings.push(Finding::new(file, package_line, Rule::WorkspaceInheritance, message));
    }
    if !lints_inherited {
        let message = "lints are not inherited: add `[lints]` with `workspace = true`";
        findings.push(Finding::new(file, lints_line.unwrap_or(package_line), Rule::WorkspaceInheritance, message));
    }
}

/// Rule `published-dependencies`: no package that may be published depends, as a normal or build
/// dependency, on a workspace package that may not (dev-dependencies are stripped at packaging).
fn check_published_dependencies(packages: &[Package], manifests: &[(String, String)], findings: &mut Vec<Finding>) {
    let unpublished: BTreeSet<&str> = packages.iter().filter(|p| !p.published).map(|p| p.name.as_str()).collect();
    for package in packages.iter().filter(|p| p.published) {
        for dependency in &package.dependencies {
            if dependency.dev || !unpublished.contains(dependency.name.as_str()) {
                continue;
            }
            let text = manifests.iter().find(|(file, _)| *file == package.manifest).map_or("", |(_, text)| text);
            let line = text
                .lines()
                .position(|line| {
                    let rest = line.trim_start().strip_prefix(dependency.key.as_str());
                    rest.is_some_and(|rest| rest.starts_with(['.', ' ', '=']))
                })
                .map_or(1, |index| index + 1);
            let message = format!(
                "published crate `{}` depends on `{}`, which is `publish = false`",
                package.name, dependency.name
            );
            findings.push(Finding::new(&package.manifest, line, Rule::PublishedDependencies, message));
        }
    }
}

/// The name of a TOML table header line (`[name]`), or `None` for any other line.
fn table_header(line: &str) -> Option<&str> {
    let line = line.split('#').next().unwrap_or_default().trim();
    let name = line.strip_prefix('[')?.strip_suffix(']')?;
    (!name.starts_with('[')).then_some(name.trim())
}

/// What tidy needs to know of a workspace member.
struct Package {
    name: String,
    /// The manifest, relative to the root.
    manifest: String,
    /// `false` for `publish = false`.
    published: bool,
    dependencies: Vec<Dependency>,
}

struct Dependency {
    /// The package depended on.
    name: String,
    /// The key it has in the manifest: its rename, if any, else its name.
    key: String,
    dev: bool,
}

/// The workspace members, from `cargo metadata --format-version 1 --no-deps`.
fn workspace_packages(root: &Path) -> Result<Vec<Package>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    let str_of = |value: &serde_json::Value, key: &str| value[key].as_str().unwrap_or_default().to_owned();
    let packages = metadata["packages"].as_array().ok_or("cargo metadata listed no packages")?;
    Ok(packages
        .iter()
        .map(|package| Package {
            name: str_of(package, "name"),
            manifest: relative(root, Path::new(&str_of(package, "manifest_path"))),
            // `null` means any registry; a list names the registries; `[]` is `publish = false`.
            published: package["publish"].as_array().is_none_or(|registries| !registries.is_empty()),
            dependencies: package["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|dependency| Dependency {
                    name: str_of(dependency, "name"),
                    key: dependency["rename"].as_str().map_or_else(|| str_of(dependency, "name"), str::to_owned),
                    dev: dependency["kind"].as_str() == Some("dev"),
                })
                .collect(),
        })
        .collect())
}

/// Every file under `dir` whose name ends in `.{extension}`, skipping [`SKIPPED_DIRS`] and hidden
/// directories, in a stable order.
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>, extension: &str) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_ref()) {
                collect_files(&path, files, extension)?;
            }
        } else if path.extension().is_some_and(|e| e == extension) {
            files.push(path);
        }
    }
    Ok(())
}

fn read(root: &Path, file: &str) -> Result<String, String> {
    std::fs::read_to_string(root.join(file)).map_err(|e| format!("cannot read {file}: {e}"))
}

/// `path` relative to `root`, with `/` separators, as findings and the allow-lists spell it.
fn relative(root: &Path, path: &Path) -> String {
    let path = path.strip_prefix(root).unwrap_or(path);
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository passes tidy: `cargo test --workspace` fails on a new finding.
    #[test]
    fn tidy() {
        let report = check(&crate::project_root()).expect("tidy can read the repository");
        assert!(report.passes(), "tidy found problems:\n{report}");
    }

    #[test]
    fn oauth2_paths_are_found_but_not_lookalikes() {
        assert!(names_oauth2("use oauth2::{CsrfToken, PkceCodeChallenge};"));
        assert!(names_oauth2("use oauth2;"));
        assert!(names_oauth2("    let url = oauth2::AuthUrl::from_url(u);"));
        assert!(names_oauth2("impl ::oauth2::ErrorResponse for E {}"));
        assert!(!names_oauth2("use yup_oauth2::ServiceAccountAuthenticator;"));
        assert!(!names_oauth2("use oauth2_extra::Thing;"));
        assert!(!names_oauth2("// the oauth2 crate"));
    }

    #[test]
    fn an_allow_needs_a_reason_or_a_comment() {
        let findings = |text: &str| {
            let mut findings = Vec::new();
            check_rust_allows("a.rs", text, &mut findings);
            findings.into_iter().map(|f| f.line).collect::<Vec<_>>()
        };
        assert_eq!(findings("#[allow(dead_code)]\nfn f() {}"), [1]);
        assert_eq!(findings("#![expect(unreachable_pub)]"), [1]);
        assert_eq!(findings("/// Docs are not a reason.\n#[allow(dead_code)]\nfn f() {}"), [2]);
        assert!(findings("#[allow(dead_code)] // Used by one test binary only.").is_empty());
        assert!(findings("// Used by one test binary only.\n#[allow(dead_code)]").is_empty());
        assert!(findings("#[expect(dead_code, reason = \"kept for the next release\")]").is_empty());
        assert!(findings("#[allow(\n    dead_code,\n    reason = \"one test binary only\",\n)]").is_empty());
    }

    #[test]
    fn a_manifest_allow_needs_a_comment() {
        let findings = |text: &str| {
            let mut findings = Vec::new();
            check_manifest_allows("Cargo.toml", text, &mut findings);
            findings.into_iter().map(|f| f.line).collect::<Vec<_>>()
        };
        let text = "[workspace.lints.clippy]\nfoo = \"allow\"\n# Why bar is fine.\nbar = \"allow\"\nbaz = { level = \"allow\", priority = 1 } # Why.\nqux = \"warn\"\n";
        assert_eq!(findings(text), [2]);
        assert!(findings("[dependencies]\nfoo = \"allow\"\n").is_empty());
    }

    #[test]
    fn inheritance_and_repository_are_checked() {
        let mut findings = Vec::new();
        let text = "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition.workspace = true\nrepository = \"https://example.invalid/a\"\n";
        check_inheritance("a/Cargo.toml", text, &mut findings);
        check_repository("a/Cargo.toml", text, &mut findings);
        let found: Vec<_> = findings.iter().map(|f| (f.line, f.rule)).collect();
        assert_eq!(
            found,
            [
                (3, Rule::WorkspaceInheritance),
                (1, Rule::WorkspaceInheritance),
                (1, Rule::WorkspaceInheritance),
                (5, Rule::RepositoryUrl)
            ]
        );
    }
}
