//! Which Bitcoin network an anchor is on, and the easiest proof-of-work target that network
//! allows (its `powLimit`): a header claiming an easier target is refused whatever its hash.

use std::fmt;
use std::str::FromStr;

use bitcoin::pow::Target;

/// A Bitcoin network, named as Bitcoin Core's `-chain` option names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnchorNetwork {
    /// Mainnet (`main`): the only network whose blocks cost real work.
    Main,
    /// Testnet3 (`test`).
    Test,
    /// Testnet4 (`testnet4`).
    Testnet4,
    /// Signet (`signet`).
    Signet,
    /// Regtest (`regtest`): blocks anyone can mine instantly.
    Regtest,
}

impl AnchorNetwork {
    /// The `-chain` name: `main`, `test`, `testnet4`, `signet` or `regtest`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnchorNetwork::Main => "main",
            AnchorNetwork::Test => "test",
            AnchorNetwork::Testnet4 => "testnet4",
            AnchorNetwork::Signet => "signet",
            AnchorNetwork::Regtest => "regtest",
        }
    }

    /// The network's proof-of-work limit (easiest allowed target).
    pub fn max_target(self) -> Target {
        bitcoin::params::Params::new(self.into()).max_attainable_target
    }

    /// Whether blocks on this network are cheap to make (anything but mainnet), so an anchor
    /// on it says little about time.
    pub fn is_test(self) -> bool {
        self != AnchorNetwork::Main
    }
}

impl From<AnchorNetwork> for bitcoin::Network {
    fn from(n: AnchorNetwork) -> bitcoin::Network {
        match n {
            AnchorNetwork::Main => bitcoin::Network::Bitcoin,
            AnchorNetwork::Test => bitcoin::Network::Testnet,
            AnchorNetwork::Testnet4 => bitcoin::Network::Testnet4,
            AnchorNetwork::Signet => bitcoin::Network::Signet,
            AnchorNetwork::Regtest => bitcoin::Network::Regtest,
        }
    }
}

impl fmt::Display for AnchorNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A network name that is not one of `main`, `test`, `testnet4`, `signet`, `regtest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Bitcoin network {0:?} (want main, test, testnet4, signet or regtest)")]
pub struct UnknownNetwork(pub String);

impl FromStr for AnchorNetwork {
    type Err = UnknownNetwork;
    /// Bitcoin Core's `-chain` names; `mainnet`/`bitcoin` and `testnet`/`testnet3` as aliases.
    fn from_str(s: &str) -> Result<AnchorNetwork, UnknownNetwork> {
        Ok(match s {
            "main" | "mainnet" | "bitcoin" => AnchorNetwork::Main,
            "test" | "testnet" | "testnet3" => AnchorNetwork::Test,
            "testnet4" => AnchorNetwork::Testnet4,
            "signet" => AnchorNetwork::Signet,
            "regtest" => AnchorNetwork::Regtest,
            other => return Err(UnknownNetwork(other.chars().take(40).collect())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_order_mainnet_hardest() {
        assert!(AnchorNetwork::Main.max_target() < AnchorNetwork::Regtest.max_target());
        assert_eq!(
            AnchorNetwork::Regtest
                .max_target()
                .to_compact_lossy()
                .to_consensus(),
            0x207f_ffff
        );
        assert_eq!(
            AnchorNetwork::Main
                .max_target()
                .to_compact_lossy()
                .to_consensus(),
            0x1d00_ffff
        );
        for n in ["main", "test", "testnet4", "signet", "regtest"] {
            assert_eq!(n.parse::<AnchorNetwork>().map(|x| x.as_str()), Ok(n));
        }
        assert!("mainnet2".parse::<AnchorNetwork>().is_err());
    }
}
