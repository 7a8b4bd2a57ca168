//! [`Error`]: what configuring or starting a dev server can fail with.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::policy::PolicyError;

/// What configuring or starting a [`DevServer`](crate::DevServer) can fail
/// with. Each message says what went wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server cannot listen on the address it was given: in use, not an
    /// address of this machine, or no permission.
    #[error(
        "the TapPass dev server cannot listen on {addr}: {cause}; pick another address or port (port 0 takes a free one)"
    )]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        cause: io::Error,
    },

    /// A policy file could not be read or parsed (the message lists every
    /// problem, each naming its rule).
    #[error(transparent)]
    Policy(#[from] PolicyError),

    /// The mandate signing key file could not be read.
    #[error("cannot read the signing key `{}`: {cause}", path.display())]
    ReadSigningKey {
        /// The file asked for.
        path: PathBuf,
        /// What the operating system said.
        cause: io::Error,
    },

    /// The mandate signing key is not a P-256 private key in PKCS#8 PEM.
    #[error(
        "the signing key is not a P-256 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem`"
    )]
    SigningKeyFormat,

    /// The mandate signing key parsed but could not be used to sign or be
    /// published as a JWK.
    #[error("cannot use the signing key: {problem}; make a fresh one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem`")]
    SigningKey {
        /// What failed.
        problem: String,
    },

    /// The database file of [`DevServerBuilder::db`](crate::DevServerBuilder::db)
    /// (`--db FILE`) could not be opened, read or set up.
    #[error("cannot use the database `{}`: {problem}; pass a file this process may create, read and write (a new file starts empty)", path.display())]
    Db {
        /// The file asked for.
        path: PathBuf,
        /// What SQLite said.
        problem: String,
    },
}
