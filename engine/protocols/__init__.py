"""engine.protocols: seeded cold-start splits with explicit candidate sets, stored and exchanged as folders.

Each protocol is declared in a module of its own; `engine.runs.protocol_catalog` lists them by name and is the one
entry point to split data (`make_split`), since one protocol (onboarding) is declared above this layer.
"""

from engine.protocols.assemble import SplitParts, assemble_split, split_parts
from engine.protocols.common import ProtocolError
from engine.protocols.declaration import ProtocolDeclaration, ProtocolParams
from engine.protocols.folders import check_split_matches, read_split_folder, write_split_folder
from engine.protocols.sizes import sizes_table, split_sizes
from engine.protocols.split import EvalSlice, Split

__all__ = ["EvalSlice", "ProtocolDeclaration", "ProtocolError", "ProtocolParams", "Split", "SplitParts",
           "assemble_split", "check_split_matches", "read_split_folder", "sizes_table", "split_parts", "split_sizes",
           "write_split_folder"]
