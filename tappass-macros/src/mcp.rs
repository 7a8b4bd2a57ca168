//! `#[tappass::mcp::governed]`: on the impl block of an rmcp server's
//! `#[tool]` fns, reads each tool's `#[governance(..)]` (what it needs beyond
//! TapPass's policy), checks every tool's name as TapPass will, removes the
//! helper attributes and implements `tappass::mcp::GovernedTools` with the
//! table. It works above or below rmcp's `#[tool_router]`: both read the
//! `#[tool]` attributes, which expand after them.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ImplItem, Item, Lit, LitStr};

use crate::errors::{closest, Errors};
use crate::meta::{path_name, skip_value};

/// The options of `#[governance(..)]`.
const OPTIONS: &[&str] = &["approval", "audit_only", "capability"];
const HOW: &str = "the options are `approval`, `audit_only` and `capability` (or `capability = \"action:resource:qualifier\"`); a tool without `#[governance]` is decided by the TapPass policy";
/// The longest tool name TapPass accepts (`tappass::mcp::MAX_TOOL_NAME_LEN`).
const MAX_TOOL_NAME_LEN: usize = 128;
/// The longest required capability (`tappass::mcp::MAX_CAPABILITY_LEN`).
const MAX_CAPABILITY_LEN: usize = 256;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.spanned(
            &args,
            "`#[tappass::mcp::governed]` takes no options: declare what each tool needs with `#[governance(..)]` on its `#[tool]` fn",
        );
    }
    let mut item_impl = match syn::parse2::<Item>(item)? {
        Item::Impl(item_impl) if item_impl.trait_.is_none() => item_impl,
        Item::Impl(item_impl) => {
            return Err(syn::Error::new_spanned(
                &item_impl.self_ty,
                "`#[tappass::mcp::governed]` goes on the inherent impl block of the server's `#[tool]` fns (the one `#[tool_router]` reads), not on a trait impl",
            ))
        }
        other => {
            let span = match &other {
                Item::Fn(function) => function.sig.ident.span(),
                other => other.span(),
            };
            return Err(syn::Error::new(
                span,
                "`#[tappass::mcp::governed]` goes on the impl block of an rmcp server's `#[tool]` fns (the one `#[tool_router]` reads)",
            ))
        }
    };

    let mut tools: Vec<(String, Span, TokenStream)> = Vec::new();
    for item in &mut item_impl.items {
        let ImplItem::Fn(function) = item else {
            continue;
        };
        let tool_attr = function
            .attrs
            .iter()
            .find(|attr| {
                attr.path()
                    .segments
                    .last()
                    .is_some_and(|segment| segment.ident == "tool")
            })
            .cloned();
        let mut governance = Vec::new();
        function.attrs.retain(|attr| {
            let ours = attr.path().is_ident("governance");
            if ours {
                governance.push(attr.clone());
            }
            !ours
        });
        let Some(tool_attr) = tool_attr else {
            for attr in &governance {
                errors.spanned(
                    attr,
                    format_args!(
                        "`#[governance]` declares what an MCP tool needs, but `{}` is not a `#[tool]`",
                        function.sig.ident
                    ),
                );
            }
            continue;
        };
        let (name, name_span) = match tool_name(&tool_attr, &mut errors) {
            Some(Some(name)) => (name.value(), name.span()),
            Some(None) => (function.sig.ident.to_string(), function.sig.ident.span()),
            None => continue,
        };
        if let Err(problem) = check_tool_name(&name) {
            errors.at(
                name_span,
                format_args!("TapPass cannot govern the tool `{name}`: its name {problem}; a tool's name is 1 to {MAX_TOOL_NAME_LEN} characters of [A-Za-z0-9_.-], not `.` or `..` (name it with `#[tool(name = \"…\")]`)"),
            );
        }
        if tools.iter().any(|(known, _, _)| *known == name) {
            errors.at(
                name_span,
                format_args!("the tool `{name}` is named twice in this impl block"),
            );
        }
        let mut extra = governance.iter().skip(1);
        if let Some(second) = extra.next() {
            errors.spanned(
                second,
                "one `#[governance(..)]` per tool: put all its options in one list",
            );
        }
        let needs = match governance.first() {
            Some(attr) => needs(attr, &name, &mut errors),
            None => Some(quote! { ::tappass::mcp::Needs::policy() }),
        };
        if let Some(needs) = needs {
            tools.push((name, name_span, needs));
        }
    }
    if tools.is_empty() && errors.is_empty() {
        errors.spanned(
            &item_impl.self_ty,
            "`#[tappass::mcp::governed]` found no `#[tool]` fn in this impl block: put it on the impl block of the server's `#[tool]` fns",
        );
    }
    // With errors too: the impl as it would be, so that the only errors are
    // these (not a missing `tool_router` or `GovernedTools` after them).
    let errors = errors.finish().err().map(syn::Error::into_compile_error);
    let self_ty = &item_impl.self_ty;
    let (impl_generics, _, where_clause) = item_impl.generics.split_for_impl();
    let entries = tools.iter().map(|(name, span, needs)| {
        quote_spanned! {*span=> .tool(#name, #needs) }
    });
    Ok(quote! {
        #errors
        #item_impl

        impl #impl_generics ::tappass::mcp::GovernedTools for #self_ty #where_clause {
            fn tool_rules() -> ::tappass::mcp::ToolRules {
                ::tappass::mcp::ToolRules::new() #(#entries)*
            }
        }
    })
}

/// The `name = "…"` of a `#[tool(..)]`: `Some(Some(name))`, `Some(None)`
/// when it has none (the fn's name is the tool's), `None` with an error
/// recorded when it cannot be read.
fn tool_name(attr: &Attribute, errors: &mut Errors) -> Option<Option<LitStr>> {
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return Some(None);
    }
    let mut name = None;
    let parsed = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            match meta.value()?.parse::<Expr>()? {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) => name = Some(lit),
                other => errors.spanned(
                    other,
                    "write the tool's name as a string literal (`name = \"send_email\"`), so that `#[tappass::mcp::governed]` can check it",
                ),
            }
            Ok(())
        } else {
            skip_value(&meta)
        }
    });
    match parsed {
        // rmcp reports what it cannot read in its own attribute.
        Err(_) => Some(None),
        Ok(()) => Some(name),
    }
}

/// What `#[governance(..)]` says, as the expression of a `Needs`.
fn needs(attr: &Attribute, tool: &str, errors: &mut Errors) -> Option<TokenStream> {
    let mut approval: Option<Span> = None;
    let mut audit_only: Option<Span> = None;
    let mut capability: Option<Option<LitStr>> = None;
    let mut seen = Vec::<String>::new();
    if matches!(attr.meta, syn::Meta::Path(_)) {
        errors.spanned(
            attr,
            format_args!("`#[governance]` needs what the tool needs: {HOW}"),
        );
        return None;
    }
    let parsed = attr.parse_nested_meta(|meta| {
        let key = path_name(&meta.path);
        if seen.contains(&key) {
            errors.spanned(&meta.path, format_args!("`{key}` is given twice"));
            return skip_value(&meta);
        }
        seen.push(key.clone());
        match key.as_str() {
            "approval" | "audit_only" => {
                if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                    errors.spanned(
                        &meta.path,
                        format_args!("`{key}` takes no value: write `{key}` alone"),
                    );
                    skip_value(&meta)?;
                }
                let span = Some(meta.path.span());
                if key == "approval" {
                    approval = span;
                } else {
                    audit_only = span;
                }
            }
            "capability" => {
                if meta.input.peek(syn::Token![=]) {
                    match meta.value()?.parse::<Expr>()? {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(lit), ..
                        }) => match check_capability(&lit.value()) {
                            Ok(()) => capability = Some(Some(lit)),
                            Err(problem) => errors.spanned(&lit, problem),
                        },
                        other => errors.spanned(
                            other,
                            "`capability` is a string: `capability = \"tool:call:send_email\"`, or `capability` alone for `tool:call:<the tool's name>`",
                        ),
                    }
                } else {
                    capability = Some(None);
                    skip_value(&meta)?;
                }
            }
            _ => {
                let hint = closest(&key, OPTIONS)
                    .map(|known| format!("did you mean `{known}`? "))
                    .unwrap_or_default();
                errors.spanned(
                    &meta.path,
                    format_args!("unknown `#[governance]` option `{key}`; {hint}{HOW}"),
                );
                skip_value(&meta)?;
            }
        }
        Ok(())
    });
    if let Err(error) = parsed {
        errors.push(error);
        return None;
    }
    if seen.is_empty() {
        errors.spanned(
            attr,
            format_args!("`#[governance()]` needs what the tool needs: {HOW}"),
        );
        return None;
    }
    if let (Some(_), Some(audit)) = (approval, audit_only) {
        errors.at(
            audit,
            "a tool is either `audit_only` (recorded, never decided) or needs an `approval` (decided, and by a human), not both",
        );
        return None;
    }
    let decision = if approval.is_some() {
        quote! { ::tappass::mcp::Needs::approval() }
    } else if audit_only.is_some() {
        quote! { ::tappass::mcp::Needs::audit_only() }
    } else {
        quote! { ::tappass::mcp::Needs::policy() }
    };
    Some(match capability {
        None => decision,
        Some(Some(lit)) => quote! { #decision.with_capability(#lit) },
        Some(None) => {
            let id = format!("tool:call:{tool}");
            quote! { #decision.with_capability(#id) }
        }
    })
}

/// TapPass's rule for a tool's name (`tappass::mcp`'s, and `/v1/govern`'s):
/// what is wrong, or `Ok`.
fn check_tool_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty")
    } else if name.len() > MAX_TOOL_NAME_LEN {
        Err("is too long")
    } else if name.contains('*') {
        Err("holds `*`, which a mandate's capability would read as a wildcard")
    } else if name.contains(':') {
        Err("holds `:`, which a mandate's capability would read as a separator")
    } else if matches!(name, "." | "..") {
        Err("is `.` or `..`, which a URL would read as a step of its path")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        Err("holds a character outside [A-Za-z0-9_.-]")
    } else {
        Ok(())
    }
}

/// The rule for a required capability (`tappass::mcp::Needs::with_capability`).
fn check_capability(capability: &str) -> Result<(), String> {
    let valid = !capability.is_empty()
        && capability.len() <= MAX_CAPABILITY_LEN
        && capability.split(':').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{capability}` is not a capability a tool can require: `:`-separated segments of [A-Za-z0-9_.-], none empty, no `*` (a wildcard belongs in what is granted), at most {MAX_CAPABILITY_LEN} bytes, e.g. `capability = \"tool:call:send_email\"`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{check_capability, check_tool_name};

    #[test]
    fn names_and_capabilities_follow_the_runtime_rules() {
        for good in ["send_email", "a", "v1.search-docs"] {
            assert!(check_tool_name(good).is_ok(), "{good}");
        }
        for bad in ["", "*", "a:b", ".", "..", "a b", "<b>", &"x".repeat(129)] {
            assert!(check_tool_name(bad).is_err(), "{bad}");
        }
        assert!(check_capability("tool:call:x").is_ok());
        for bad in ["", "tool:call:*", "a::b", "a b", "<b>"] {
            assert!(check_capability(bad).is_err(), "{bad}");
        }
    }
}
