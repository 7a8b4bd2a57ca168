//! What `#[governed(tool = …)]` and `#[guard]` share: the rule of a tool's
//! name and the clearance levels, checked at compile time.

use proc_macro2::TokenStream;
use quote::quote;

/// `Ok` for a tool name a capability token can grant: 1 to 128 characters
/// of `[A-Za-z0-9_.-]`, not `.` or `..` (the names the development server
/// accepts). `*` (any tool, in a token) is no name of a call.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    const RULE: &str = "a tool's name is 1 to 128 characters of `A-Z a-z 0-9 _ . -` (not `.` or `..`), e.g. `tool = \"read_file\"`";
    if name == "*" {
        return Err(format!(
            "`*` grants any tool in a token, but a call is of one named tool: {RULE}"
        ));
    }
    let valid = (1..=128).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!("`{name}` is not a tool name: {RULE}"))
    }
}

/// A clearance level, as `tappass::capability::Clearance` names it.
#[derive(Clone, Copy)]
pub(crate) struct Clearance(&'static str);

impl Clearance {
    const LEVELS: [(&'static str, &'static str); 6] = [
        ("UNTRUSTED", "Untrusted"),
        ("EXTERNAL", "External"),
        ("PARTNER", "Partner"),
        ("INTERNAL", "Internal"),
        ("PRIVILEGED", "Privileged"),
        ("SYSTEM", "System"),
    ];

    /// The levels, for messages.
    pub(crate) const NAMES: &'static str =
        "`UNTRUSTED`, `EXTERNAL`, `PARTNER`, `INTERNAL`, `PRIVILEGED` or `SYSTEM`";

    /// The level named `name`, in any case (as Python's `Clearance.from_string`).
    pub(crate) fn parse(name: &str) -> Option<Clearance> {
        Self::LEVELS
            .iter()
            .find(|(upper, _)| upper.eq_ignore_ascii_case(name))
            .map(|(_, variant)| Clearance(variant))
    }

    /// `::tappass::capability::Clearance::<Level>`.
    pub(crate) fn tokens(self) -> TokenStream {
        let variant = syn::Ident::new(self.0, proc_macro2::Span::call_site());
        quote!(::tappass::capability::Clearance::#variant)
    }
}

#[cfg(test)]
mod tests {
    use super::{check_name, Clearance};

    #[test]
    fn tool_names_follow_the_dev_servers_rule() {
        for good in ["read_file", "a", "x.y-z_1", &"a".repeat(128)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "*",
            "read file",
            "a:b",
            "<b>",
            &"a".repeat(129),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(Clearance::parse("internal").is_some());
        assert!(Clearance::parse("SECRET").is_none());
    }
}
