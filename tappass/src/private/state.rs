//! Where a hidden parameter of `#[governed]` finds a service (a mandate
//! verifier, an authorizer) in the router's state: after the layer's and an
//! `Extension`'s, for a handler that takes `State<T>`, the state's own when
//! `V: FromRef<T>`, found at compile time for the concrete `T` (autoref
//! specialization on [`ServiceProbe`]).

use std::marker::PhantomData;

use axum::extract::FromRef;

/// Where a hidden parameter finds a `V` in the router's state `S`. Not
/// public API.
#[doc(hidden)]
pub trait StateService<S, V> {
    /// The state's `V`, if it holds one.
    fn service(state: &S) -> Option<V>;
}

/// A handler without a `State<T>` parameter: no state to look in.
#[doc(hidden)]
pub struct NoState;

impl<S, V> StateService<S, V> for NoState {
    fn service(_: &S) -> Option<V> {
        None
    }
}

/// A handler with a `State<T>` parameter: `T`, looked in through `Src`
/// (which the macro implements for the concrete `T`).
#[doc(hidden)]
pub struct FromState<T, Src>(PhantomData<fn() -> (T, Src)>);

impl<S, V, T, Src> StateService<S, V> for FromState<T, Src>
where
    T: FromRef<S>,
    Src: ServiceSource<T, V>,
{
    fn service(state: &S) -> Option<V> {
        Src::service(&T::from_ref(state))
    }
}

/// Where a handler with a `State<T>` parameter finds a `V` in `T`:
/// implemented by the macro for a hidden type, per handler. Not public API.
#[doc(hidden)]
pub trait ServiceSource<T, V> {
    /// The `V` held by the state, if the state holds one.
    fn service(state: &T) -> Option<V>;
}

/// Probes at compile time whether `V: FromRef<T>`: the macro calls
/// `(&&ServiceProbe::<T, V>::new()).service_from_state(state)` with a
/// concrete `T`.
#[doc(hidden)]
pub struct ServiceProbe<T, V>(PhantomData<fn() -> (T, V)>);

impl<T, V> ServiceProbe<T, V> {
    /// A probe for `V` in `T`.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        ServiceProbe(PhantomData)
    }
}

/// Chosen when `V: FromRef<T>`. Not public API.
#[doc(hidden)]
pub trait ServiceViaFromRef<T, V> {
    /// The state's `V`.
    fn service_from_state(&self, state: &T) -> Option<V>;
}

impl<T, V: FromRef<T>> ServiceViaFromRef<T, V> for &ServiceProbe<T, V> {
    fn service_from_state(&self, state: &T) -> Option<V> {
        Some(V::from_ref(state))
    }
}

/// Chosen when the state holds no `V`. Not public API.
#[doc(hidden)]
pub trait ServiceViaNothing<T, V> {
    /// None.
    fn service_from_state(&self, state: &T) -> Option<V> {
        let _ = state;
        None
    }
}

impl<T, V> ServiceViaNothing<T, V> for ServiceProbe<T, V> {}
