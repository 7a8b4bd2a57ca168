#![doc = include_str!("../docs/layer.md")]

mod body;
mod future;
#[allow(clippy::module_inception)]
mod layer;
pub(crate) mod resolve;
mod service;
mod telemetry;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::{TapPassLayer, TapPassLayerBuilder};
pub use service::TapPassService;
