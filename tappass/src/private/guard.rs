//! What `#[tappass::guard]` generates code against: the call's arguments,
//! the code's own constraints (built once per function), and the one check
//! of a guarded call.

use std::sync::OnceLock;

use crate::capability::{
    Args, AuthResult, CapabilityRejection, Cel, Cidr, Constraint, ConstraintError, Exact, NotOneOf,
    OneOf, Pattern, Pop, Range, Regex, Rejection, Shlex, Subpath, UrlPattern, UrlSafe,
};

/// A parameter of a guarded function: a tool argument, so JSON.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a guarded tool call: it does not implement `serde::Serialize`",
    note = "a guarded function's parameters are the tool's arguments, signed in the proof of possession as JSON: give them types that implement `serde::Serialize` (`&str`, `String`, numbers, `Vec<T>`, your own `#[derive(Serialize)]` types)"
)]
pub trait GuardArgument: serde::Serialize {}

impl<T: serde::Serialize + ?Sized> GuardArgument for T {}

/// The check, spanned on a parameter's type, that it is an argument: the
/// one error for a parameter that is not (the conversion below never fails
/// to build).
pub fn argument_type<T: GuardArgument + ?Sized>() {}

/// A parameter's value, converted by autoref specialization: through
/// [`ArgViaSerialize`] when it implements `Serialize`, else
/// [`ArgViaNothing`], which never runs (`argument_type` has failed the
/// build).
pub struct ArgProbe<'a, T: ?Sized>(pub &'a T);

/// Chosen when the argument implements `Serialize`.
pub trait ArgViaSerialize {
    /// The argument as JSON.
    fn to_json(&self) -> Result<serde_json::Value, String>;
}

impl<T: serde::Serialize + ?Sized> ArgViaSerialize for &ArgProbe<'_, T> {
    fn to_json(&self) -> Result<serde_json::Value, String> {
        serde_json::to_value(self.0).map_err(|e| e.to_string())
    }
}

/// Chosen when it does not: the build has failed already.
pub trait ArgViaNothing {
    /// Never JSON.
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Err("not serializable".to_owned())
    }
}

impl<T: ?Sized> ArgViaNothing for ArgProbe<'_, T> {}

/// The arguments of a guarded call, as the generated code collects them.
#[derive(Default)]
pub struct GuardArgs {
    args: Args,
    unreadable: Option<String>,
}

impl GuardArgs {
    /// No arguments yet.
    pub fn new() -> Self {
        GuardArgs::default()
    }

    /// Adds the argument `name`, converted to JSON.
    pub fn arg(mut self, name: &'static str, value: Result<serde_json::Value, String>) -> Self {
        match value {
            Ok(value) => {
                self.args.insert(name.to_owned(), value);
            }
            Err(e) => {
                self.unreadable
                    .get_or_insert_with(|| format!("argument `{name}` is not JSON: {e}"));
            }
        }
        self
    }
}

/// A value `#[constraint(…)]` accepts: a constraint, or the `Result` of a
/// fallible constructor (`Subpath::new("/data")`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a constraint",
    note = "write a constraint of `tappass::capability` (`Subpath(\"/data\")`, `Exact(\"x\")`, `OneOf([\"a\", \"b\"])`, `Range::between(1, 10)`…), a `Constraint`, or the `Result` of a constraint's constructor"
)]
pub trait IntoGuardConstraint {
    /// The constraint, or why it could not be built.
    fn into_guard_constraint(self) -> Result<Constraint, ConstraintError>;
}

impl IntoGuardConstraint for Constraint {
    fn into_guard_constraint(self) -> Result<Constraint, ConstraintError> {
        Ok(self)
    }
}

impl IntoGuardConstraint for Result<Constraint, ConstraintError> {
    fn into_guard_constraint(self) -> Result<Constraint, ConstraintError> {
        self
    }
}

macro_rules! guard_constraints {
    ($($t:ident),*) => {$(
        impl IntoGuardConstraint for $t {
            fn into_guard_constraint(self) -> Result<Constraint, ConstraintError> {
                Ok(self.into())
            }
        }
        impl IntoGuardConstraint for Result<$t, ConstraintError> {
            fn into_guard_constraint(self) -> Result<Constraint, ConstraintError> {
                self.map(Into::into)
            }
        }
    )*};
}
guard_constraints!(
    Exact, Pattern, Range, OneOf, NotOneOf, Subpath, UrlSafe, Shlex, Cidr, UrlPattern, Regex, Cel
);

/// One `#[constraint(…)]`, as the generated code writes it.
pub fn constraint<C: IntoGuardConstraint>(
    argument: &'static str,
    constraint: C,
) -> (&'static str, Result<Constraint, ConstraintError>) {
    (argument, constraint.into_guard_constraint())
}

/// A guarded function's own constraints, built on its first call.
pub type Constraints = OnceLock<Vec<(&'static str, Result<Constraint, ConstraintError>)>>;

/// What a guarded function returns: a `Result` whose error can carry a
/// refusal.
#[diagnostic::on_unimplemented(
    message = "a guarded function returns a `Result` whose error can carry a capability refusal, not `{Self}`",
    note = "return `Result<T, E>` where `E: From<tappass::capability::CapabilityRejection>` (`tappass::Error` is one)"
)]
pub trait GuardResult {
    /// `Err(refusal.into())`.
    fn refused(refusal: CapabilityRejection) -> Self;
}

impl<T, E: From<CapabilityRejection>> GuardResult for Result<T, E> {
    fn refused(refusal: CapabilityRejection) -> Self {
        Err(E::from(refusal))
    }
}

/// The refusal as the function's own return type.
pub fn refuse<R: GuardResult>(refusal: CapabilityRejection) -> R {
    R::refused(refusal)
}

/// The check of a guarded call, in the Python SDK's order: the credentials
/// in scope, the code's own constraints (defence in depth: whatever the
/// token allows), a fresh proof of possession signed with the holder's key,
/// then the authorizer's whole decision on it.
pub fn check(
    tool: &str,
    args: GuardArgs,
    constraints: &[(&'static str, Result<Constraint, ConstraintError>)],
) -> Result<AuthResult, CapabilityRejection> {
    let credentials = crate::capability::scope::current().ok_or_else(|| {
        CapabilityRejection::misconfigured(format!(
            "the guarded tool `{tool}` was called outside a capability scope: run it inside `tappass::capability::scope(Credentials::new(authorizer, token, key), …)`"
        ))
    })?;
    if let Some(reason) = args.unreadable {
        return Err(CapabilityRejection::Unreadable { reason });
    }
    let args = args.args;
    for (argument, constraint) in constraints {
        let constraint = constraint.as_ref().map_err(|e| {
            CapabilityRejection::misconfigured(format!(
                "the constraint on argument `{argument}` of the guarded tool `{tool}` cannot be built: {e}"
            ))
        })?;
        if let Some(value) = args.get(*argument) {
            if !constraint.satisfies(value) {
                return Err(CapabilityRejection::for_tool(
                    tool,
                    Rejection::ConstraintViolated {
                        argument: (*argument).to_owned(),
                        constraint: constraint.to_string(),
                    },
                ));
            }
        }
    }
    let refuse = |rejection| CapabilityRejection::for_tool(tool, rejection);
    let pop = Pop::sign(&credentials.token, &credentials.key, tool, &args).map_err(refuse)?;
    credentials
        .authorizer
        .authorize(credentials.token.clone(), Some(&pop.encode()), tool, &args)
        .map_err(refuse)
}
