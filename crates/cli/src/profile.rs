//! Profile names: the default, which names are allowed, and how commands suggest one.
//!
//! A leaf module that depends on no other module of the tool, so that both the configuration and
//! the errors use it without an import circle.

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// ` --profile NAME` for a profile other than the default, for commands to suggest.
pub fn profile_flag(profile: &str) -> String {
    if profile == DEFAULT_PROFILE { String::new() } else { format!(" --profile {profile}") }
}

/// Profile names appear in commands the tool suggests, so they are kept to a safe alphabet; the
/// error is the message for a usage error.
pub fn check_profile_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid profile name {name:?}: use up to 64 letters, digits, `-`, `_`, `.` or `@`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names() {
        assert!(check_profile_name("work-eu.sandbox_1").is_ok());
        assert!(check_profile_name("me@example.com").is_ok());
        assert!(check_profile_name("").is_err());
        assert!(check_profile_name("a b").is_err());
        assert!(check_profile_name("$(rm)").is_err());
        assert_eq!(profile_flag(DEFAULT_PROFILE), "");
        assert_eq!(profile_flag("work"), " --profile work");
    }
}
