//! What the auditor trusts about the Bitcoin chain: block hashes (`--trusted-block
//! HASH[:HEIGHT]`) and header chains (`--headers FILE`).
//!
//! A header chain file is text:
//!
//! ```text
//! # vanguard-headers/v1: any line starting with '#' is a comment
//! height 840000
//! 00e0ff3f...   160 hex digits: the 80-byte header at height 840000
//! 0000c020...   the header at 840001, whose prev_blockhash is the hash of the one above
//! ```
//!
//! The `height` line gives the height of the first header and comes before any header. Each
//! header links to the one before it; every header's proof-of-work is checked against its own
//! target and the network's limit when an anchor is verified ([`HeaderChain::check_work`]).
//! `bitcoin-cli getblockheader HASH false` prints one such line.

use std::collections::HashMap;
use std::str::FromStr;

use bitcoin::block::Header;
use bitcoin::consensus::encode::deserialize;
use bitcoin::hex::FromHex;
use bitcoin::BlockHash;

use super::network::AnchorNetwork;

/// Most headers a chain file may hold (mainnet has about a million).
pub const MAX_HEADERS: usize = 4_000_000;

/// A block the auditor trusts, with its height if known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedBlock {
    /// The block hash.
    pub hash: BlockHash,
    /// Its height, if given.
    pub height: Option<u64>,
}

/// A `--trusted-block` or `--headers` value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TrustInputError(pub String);

impl FromStr for TrustedBlock {
    type Err = TrustInputError;
    /// `HASH` or `HASH:HEIGHT`, the hash in RPC byte order (as block explorers show it).
    fn from_str(s: &str) -> Result<TrustedBlock, TrustInputError> {
        let (hash, height) = match s.split_once(':') {
            Some((h, n)) => (
                h,
                Some(n.parse::<u64>().map_err(|_| {
                    TrustInputError(format!("trusted block height {n:?} is not a number"))
                })?),
            ),
            None => (s, None),
        };
        let hash = hash
            .parse::<BlockHash>()
            .map_err(|e| TrustInputError(format!("trusted block hash {hash:?}: {e}")))?;
        Ok(TrustedBlock { hash, height })
    }
}

/// A linked chain of headers with the height of the first.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderChain {
    start: u64,
    headers: Vec<Header>,
    hashes: Vec<BlockHash>,
    index: HashMap<BlockHash, usize>,
}

impl HeaderChain {
    /// Parses a header chain file (format in the module documentation). Checks: a `height`
    /// line before the first header; each header line is 80 bytes of hex; each header's
    /// `prev_blockhash` is the hash of the header before it; at least one header.
    pub fn parse(text: &str) -> Result<HeaderChain, TrustInputError> {
        let mut start = None;
        let mut chain = HeaderChain {
            start: 0,
            headers: Vec::new(),
            hashes: Vec::new(),
            index: HashMap::new(),
        };
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(h) = line.strip_prefix("height ") {
                if start.is_some() {
                    return Err(TrustInputError(format!(
                        "line {line_no}: a second height line"
                    )));
                }
                start = Some(h.trim().parse::<u64>().map_err(|_| {
                    TrustInputError(format!("line {line_no}: height {h:?} is not a number"))
                })?);
                continue;
            }
            if start.is_none() {
                return Err(TrustInputError(format!(
                    "line {line_no}: a header before the `height N` line"
                )));
            }
            if chain.headers.len() >= MAX_HEADERS {
                return Err(TrustInputError(format!("more than {MAX_HEADERS} headers")));
            }
            let bytes = Vec::<u8>::from_hex(line)
                .map_err(|e| TrustInputError(format!("line {line_no}: header is not hex: {e}")))?;
            if bytes.len() != 80 {
                return Err(TrustInputError(format!(
                    "line {line_no}: header is {} bytes, want 80",
                    bytes.len()
                )));
            }
            let header: Header =
                deserialize(&bytes).map_err(|e| TrustInputError(format!("line {line_no}: {e}")))?;
            if let Some(prev) = chain.hashes.last() {
                if header.prev_blockhash != *prev {
                    return Err(TrustInputError(format!(
                        "line {line_no}: header does not link to the one before it (its \
                         prev_blockhash is {}, the previous header's hash is {prev})",
                        header.prev_blockhash
                    )));
                }
            }
            let hash = header.block_hash();
            chain.index.insert(hash, chain.headers.len());
            chain.headers.push(header);
            chain.hashes.push(hash);
        }
        chain.start = start.ok_or_else(|| TrustInputError("no `height N` line".into()))?;
        if chain.headers.is_empty() {
            return Err(TrustInputError("no headers".into()));
        }
        Ok(chain)
    }

    /// Height of the first header.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Height of the last header (the tip the auditor knows).
    pub fn tip(&self) -> u64 {
        self.start + self.headers.len() as u64 - 1
    }

    /// Height of the block `hash`, if it is in the chain.
    pub fn height_of(&self, hash: &BlockHash) -> Option<u64> {
        self.index.get(hash).map(|i| self.start + *i as u64)
    }

    /// Checks every header's proof-of-work against its own target and `network`'s limit.
    /// Returns the height of the first header that fails, with why.
    pub fn check_work(&self, network: AnchorNetwork) -> Result<(), (u64, String)> {
        for (i, header) in self.headers.iter().enumerate() {
            let height = self.start + i as u64;
            super::verify::check_header_work(header, network).map_err(|e| (height, e))?;
        }
        Ok(())
    }
}
