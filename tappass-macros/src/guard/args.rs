//! Parses the options of `#[tappass::guard(...)]`: `tool = "<name>"`
//! (default: the function's name).

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::{Expr, ExprLit, Lit, LitStr};

use crate::errors::{closest, Errors};
use crate::meta::{path_name, skip_value, value};

const TOOL: &str = "tool";
const OPTIONS: &[&str] = &[TOOL];

/// The options of one `#[guard]` attribute.
#[derive(Default)]
pub(crate) struct Options {
    /// `tool = "…"`, when given.
    pub tool: Option<LitStr>,
}

/// Parses `args`, recording every mistake in `errors`.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(TOOL) {
            let needs = format!("a value: `{TOOL} = \"read_file\"`");
            match value::<Expr>(&meta, errors, &needs)? {
                Some(Expr::Lit(ExprLit {
                    lit: Lit::Str(tool),
                    ..
                })) => {
                    if options.tool.is_some() {
                        errors.spanned(
                            &meta.path,
                            format_args!("duplicate `#[guard]` option `{TOOL}`: a guarded function is one tool"),
                        );
                    } else {
                        options.tool = Some(tool);
                    }
                }
                Some(other) => errors.spanned(
                    other,
                    format_args!("`{TOOL}` is a string: `{TOOL} = \"read_file\"`"),
                ),
                None => {}
            }
        } else {
            let name = path_name(&meta.path);
            let hint = match closest(&name, OPTIONS) {
                Some(close) => format!("did you mean `{close}`? "),
                None => String::new(),
            };
            errors.spanned(
                &meta.path,
                format_args!(
                    "unknown `#[guard]` option `{name}`; {hint}the option is `{TOOL} = \"name\"` (default: the function's name); constraints go on the parameters: `#[constraint(Subpath(\"/data\"))] path: &str`"
                ),
            );
            skip_value(&meta)?;
        }
        Ok(())
    });
    let result = parser.parse2(args);
    errors.ok(result);
    options
}
