//! The parsed model of a `#[governed]` handler: its parameters sorted into
//! those the toolkit injects (`Agent`, `Session`, `Option<Session>`) and the
//! others.

use syn::{FnArg, GenericArgument, ItemFn, PatType, PathArguments, Receiver, Type};

/// A handler fn, borrowed from the syntax tree.
pub(crate) struct Handler<'a> {
    pub original: &'a ItemFn,
    pub params: Vec<Param<'a>>,
    /// `self`, `&self`, …: not allowed, kept for the error's span.
    pub receiver: Option<&'a Receiver>,
}

/// One typed parameter.
pub(crate) struct Param<'a> {
    pub original: &'a PatType,
    /// Whether its type is `Agent`, `Session` or `Option<Session>`.
    pub injected: bool,
}

impl<'a> Handler<'a> {
    pub(crate) fn from_syn(original: &'a ItemFn) -> Self {
        let mut params = Vec::new();
        let mut receiver = None;
        for input in &original.sig.inputs {
            match input {
                FnArg::Receiver(r) => receiver = Some(r),
                FnArg::Typed(param) => params.push(Param {
                    original: param,
                    injected: is_injected(&param.ty),
                }),
            }
        }
        Handler {
            original,
            params,
            receiver,
        }
    }

    /// The injected `Agent` parameters, in their original order.
    pub(crate) fn agents(&self) -> impl Iterator<Item = &PatType> {
        self.params
            .iter()
            .filter(|param| param.injected && is_agent(&param.original.ty))
            .map(|param| param.original)
    }

    /// The injected `Session` and `Option<Session>` parameters, in their
    /// original order.
    pub(crate) fn sessions(&self) -> impl Iterator<Item = &PatType> {
        self.params
            .iter()
            .filter(|param| param.injected && !is_agent(&param.original.ty))
            .map(|param| param.original)
    }

    /// `T` of the first `State<T>` parameter, when the handler takes one and
    /// has no generics of its own (so that `T` names a concrete type).
    pub(crate) fn state_type(&self) -> Option<&'a Type> {
        if !self.original.sig.generics.params.is_empty() {
            return None;
        }
        self.params.iter().find_map(|param| {
            let segment = last_segment(&param.original.ty)?;
            if segment.ident != "State" {
                return None;
            }
            match &segment.arguments {
                PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
                    match args.args.first() {
                        Some(GenericArgument::Type(inner)) => Some(inner),
                        _ => None,
                    }
                }
                _ => None,
            }
        })
    }

    /// The other parameters, in their original order.
    pub(crate) fn others(&self) -> impl Iterator<Item = &PatType> {
        self.params
            .iter()
            .filter(|param| !param.injected)
            .map(|param| param.original)
    }
}

/// The extractors that read the request's body, by the last segment of
/// their path: axum can run only one, as the last parameter.
const BODY_EXTRACTORS: &[&str] = &[
    "Json",
    "Form",
    "Bytes",
    "String",
    "Request",
    "Body",
    "RawForm",
    "Multipart",
];

/// Whether `ty` reads the request's body (see [`BODY_EXTRACTORS`]).
fn reads_body(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| BODY_EXTRACTORS.iter().any(|name| s.ident == name))
}

impl<'a> Handler<'a> {
    /// The parameters that read the body but are not the last of those the
    /// toolkit does not inject (the injected ones go first, whatever their
    /// place): each is a mistake, reported at its type.
    pub(crate) fn misplaced_bodies(&self) -> impl Iterator<Item = &'a PatType> + '_ {
        let others: Vec<&'a PatType> = self
            .params
            .iter()
            .filter(|param| !param.injected)
            .map(|param| param.original)
            .collect();
        let last = others.len().saturating_sub(1);
        others
            .into_iter()
            .enumerate()
            .filter(move |(i, param)| *i < last && reads_body(&param.ty))
            .map(|(_, param)| param)
    }
}

/// `Agent`, by the last segment of its path.
pub(crate) fn is_agent(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Agent" && s.arguments.is_none())
}

/// `Session` (not `Option<Session>`), by the last segment of its path.
pub(crate) fn is_required_session(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Session" && s.arguments.is_none())
}

/// `Agent`, `Session`, `Option<Session>`, by the last segment of their path
/// (so `tappass::Agent` and `std::option::Option<tappass::Session>` too).
fn is_injected(ty: &Type) -> bool {
    match last_segment(ty) {
        Some(segment) if segment.ident == "Agent" || segment.ident == "Session" => {
            segment.arguments.is_none()
        }
        Some(segment) if segment.ident == "Option" => match &segment.arguments {
            PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
                match args.args.first() {
                    Some(GenericArgument::Type(inner)) => last_segment(inner)
                        .is_some_and(|s| s.ident == "Session" && s.arguments.is_none()),
                    _ => false,
                }
            }
            _ => false,
        },
        _ => false,
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        Type::Group(group) => last_segment(&group.elem),
        Type::Paren(paren) => last_segment(&paren.elem),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::is_injected;

    fn injected(ty: &str) -> bool {
        is_injected(&syn::parse_str(ty).unwrap())
    }

    #[test]
    fn agent_and_session_types_are_injected() {
        assert!(injected("Agent"));
        assert!(injected("tappass::Agent"));
        assert!(injected("::tappass::Session"));
        assert!(injected("Session"));
        assert!(injected("Option<Session>"));
        assert!(injected("std::option::Option<tappass::Session>"));
        assert!(!injected("Option<Agent>"));
        assert!(!injected("State<App>"));
        assert!(!injected("Json<Session>"));
        assert!(!injected("Extension<Agent>"));
        assert!(!injected("&Session"));
        assert!(!injected("Session<T>"));
    }
}
