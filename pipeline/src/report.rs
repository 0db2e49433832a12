//! Figures from the store for people who pay and coach by them, and the
//! station's user commands: `folio report keyers`, `folio user …`.
//! Reads the store; prints tables or CSV.

use crate::cli::UserCommand;
use crate::error::{ExitCode, FolioError};
use crate::store::{Actor, KeyerFigures, Role, Store};
use crate::table::Table;
use crate::web::auth;
use std::io::Read;

/// `folio report keyers [--since DATE] [--csv]`.
pub async fn keyers(store: &Store, since: Option<&str>, csv: bool) -> Result<ExitCode, FolioError> {
    if let Some(d) = since
        && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
    {
        return Err(FolioError::Usage(format!(
            "--since {d:?}: expected a date as YYYY-MM-DD"
        )));
    }
    let figures = store.keyer_figures(since).await?;
    print!(
        "{}",
        if csv {
            to_csv(&figures)
        } else {
            to_table(&figures)
        }
    );
    Ok(ExitCode::Ok)
}

const HEAD: [&str; 12] = [
    "user",
    "pseudonym",
    "role",
    "fields",
    "keystrokes",
    "active_hours",
    "fields_per_hour",
    "keystrokes_per_hour",
    "errors",
    "error_rate",
    "decisions",
    "decisions_per_hour",
];

fn cells(f: &KeyerFigures) -> [String; 12] {
    [
        f.user.clone(),
        f.pseudonym.clone(),
        f.role.clone(),
        f.fields.to_string(),
        f.keystrokes.to_string(),
        format!("{:.3}", f.active_hours),
        format!("{:.0}", f.fields_per_hour),
        format!("{:.0}", f.keystrokes_per_hour),
        f.errors.to_string(),
        format!("{:.4}", f.error_rate),
        f.decisions.to_string(),
        format!("{:.0}", f.decisions_per_hour),
    ]
}

fn to_csv(figures: &[KeyerFigures]) -> String {
    let mut table = Table::new(HEAD);
    table.rows = figures.iter().map(|f| cells(f).to_vec()).collect();
    table.to_csv(false)
}

fn to_table(figures: &[KeyerFigures]) -> String {
    if figures.is_empty() {
        return "no keying recorded in this period\n".into();
    }
    let rows: Vec<[String; 12]> = figures.iter().map(cells).collect();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([HEAD[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..12).map(width).collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line(HEAD.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// `folio user add|list`.
pub async fn user_command(store: &Store, command: UserCommand) -> Result<ExitCode, FolioError> {
    match command {
        UserCommand::Add { name, role, .. } => {
            let role: Role = role.parse().map_err(FolioError::Usage)?;
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(FolioError::Usage(format!(
                    "user name {name:?}: no spaces or control characters"
                )));
            }
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| FolioError::Usage(format!("reading the password from stdin: {e}")))?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.chars().count() < 8 {
                return Err(FolioError::Usage(
                    "the password must have at least 8 characters".into(),
                ));
            }
            let hash = auth::hash_password(password)?;
            let user = store.add_user(&name, role, &hash, &Actor::user()).await?;
            println!(
                "user {} added as {} (pseudonym in packages and reports: {})",
                user.name,
                user.role.as_str(),
                user.pseudonym
            );
            Ok(ExitCode::Ok)
        }
        UserCommand::List => {
            for u in store.users().await? {
                let lock = if u.locked_for_s > 0.0 {
                    format!(
                        "  locked for {:.0} more min",
                        (u.locked_for_s / 60.0).ceil()
                    )
                } else {
                    String::new()
                };
                println!(
                    "{:<20} {:<10} {}{lock}",
                    u.name,
                    u.role.as_str(),
                    u.pseudonym
                );
            }
            Ok(ExitCode::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it() {
        let f = KeyerFigures {
            user: "wang, li".into(),
            pseudonym: "K1".into(),
            role: "keyer".into(),
            fields: 3,
            ..KeyerFigures::default()
        };
        let csv = to_csv(&[f]);
        assert!(csv.starts_with("user,pseudonym,role,fields,"));
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("\"wang, li\",K1,keyer,3,")
        );
    }
}
