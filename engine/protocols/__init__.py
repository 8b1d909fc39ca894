"""engine.protocols: seeded cold-start splits with explicit candidate sets, stored and exchanged as folders."""

from engine.protocols.assemble import SplitParts, assemble_split, split_parts
from engine.protocols.catalog import PROTOCOLS, get_protocol, make_split, protocol_summaries
from engine.protocols.common import ProtocolError
from engine.protocols.declaration import ProtocolDeclaration, ProtocolParams
from engine.protocols.folders import check_split_matches, read_split_folder, write_split_folder
from engine.protocols.sizes import sizes_table, split_sizes
from engine.protocols.split import EvalSlice, Split

__all__ = ["EvalSlice", "PROTOCOLS", "ProtocolDeclaration", "ProtocolError", "ProtocolParams", "Split",
           "SplitParts", "assemble_split", "check_split_matches", "get_protocol", "make_split", "protocol_summaries",
           "read_split_folder", "sizes_table", "split_parts", "split_sizes", "write_split_folder"]
