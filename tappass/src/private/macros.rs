//! The hidden `macro_rules` the generated code calls (`::tappass::__openapi!`,
//! `::tappass::__mandate!`, `::tappass::__mandate_param!`,
//! `::tappass::__capability!`, `::tappass::__capability_param!`,
//! `::tappass::__guard!`): each has one arm
//! with its feature and one without, so that a macro option whose feature is
//! off is one clear compile error instead of unresolved paths.

/// What `#[governance(openapi)]` expands to: its tokens with the `utoipa`
/// feature, a clear compile error without it. Not public API.
#[cfg(feature = "utoipa")]
#[doc(hidden)]
#[macro_export]
macro_rules! __openapi {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// What `#[governance(openapi)]` expands to: its tokens with the `utoipa`
/// feature, a clear compile error without it. Not public API.
#[cfg(not(feature = "utoipa"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __openapi {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`#[governance(openapi)]` needs the `utoipa` feature of tappass: `tappass = { version = \"0.1\", features = [\"utoipa\"] }`"
        );
    };
}

/// What `#[governed(capability = …)]` expands its items to: the tokens with
/// the `mandate` feature, a clear compile error without it. Not public API.
#[cfg(feature = "mandate")]
#[doc(hidden)]
#[macro_export]
macro_rules! __mandate {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// What `#[governed(capability = …)]` expands its items to: the tokens with
/// the `mandate` feature, a clear compile error without it. Not public API.
#[cfg(not(feature = "mandate"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __mandate {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`#[governed(capability = \"…\")]` verifies mandates, which needs the `mandate` feature of tappass: `tappass = { version = \"0.1\", features = [\"mandate\"] }`"
        );
    };
}

/// The type of the hidden mandate parameter of `#[governed(capability = …)]`
/// (`()` without the `mandate` feature, whose error `__mandate!` gives).
/// Not public API.
#[cfg(feature = "mandate")]
#[doc(hidden)]
#[macro_export]
macro_rules! __mandate_param {
    ($source:ty) => {
        ::tappass::__private::RequiredMandate<$source>
    };
    ($source:ty, $state:ty) => {
        ::tappass::__private::RequiredMandate<
            $source,
            ::tappass::__private::FromState<$state, $source>,
        >
    };
}

/// The type of the hidden mandate parameter of `#[governed(capability = …)]`
/// (`()` without the `mandate` feature, whose error `__mandate!` gives).
/// Not public API.
#[cfg(not(feature = "mandate"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __mandate_param {
    ($($tokens:tt)*) => {
        ()
    };
}

/// What `#[governed(tool = …)]` expands its items to: the tokens with the
/// `capability` feature, a clear compile error without it. Not public API.
#[cfg(feature = "capability")]
#[doc(hidden)]
#[macro_export]
macro_rules! __capability {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// What `#[governed(tool = …)]` expands its items to: the tokens with the
/// `capability` feature, a clear compile error without it. Not public API.
#[cfg(not(feature = "capability"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __capability {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`#[governed(tool = \"…\")]` verifies capability tokens, which needs the `capability` feature of tappass: `tappass = { version = \"0.1\", features = [\"capability\"] }`"
        );
    };
}

/// The type of the hidden call parameter of `#[governed(tool = …)]` (`()`
/// without the `capability` feature, whose error `__capability!` gives).
/// Not public API.
#[cfg(feature = "capability")]
#[doc(hidden)]
#[macro_export]
macro_rules! __capability_param {
    ($source:ty) => {
        ::tappass::__private::RequiredCall<$source>
    };
    ($source:ty, $state:ty) => {
        ::tappass::__private::RequiredCall<
            $source,
            ::tappass::__private::FromState<$state, $source>,
        >
    };
}

/// The type of the hidden call parameter of `#[governed(tool = …)]` (`()`
/// without the `capability` feature, whose error `__capability!` gives).
/// Not public API.
#[cfg(not(feature = "capability"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __capability_param {
    ($($tokens:tt)*) => {
        ()
    };
}

/// What `#[tappass::guard]` expands the guarded function's check to: the
/// tokens with the `capability` feature, a clear compile error without it.
/// Not public API.
#[cfg(feature = "capability")]
#[doc(hidden)]
#[macro_export]
macro_rules! __guard {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// What `#[tappass::guard]` expands the guarded function's check to: the
/// tokens with the `capability` feature, a clear compile error without it.
/// Not public API.
#[cfg(not(feature = "capability"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __guard {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`#[tappass::guard]` checks calls against capability tokens, which needs the `capability` feature of tappass: `tappass = { version = \"0.1\", features = [\"capability\"] }`"
        );
    };
}
