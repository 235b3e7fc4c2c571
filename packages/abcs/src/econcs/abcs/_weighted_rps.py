"""The paper's weighted rock-paper-scissors, compiled as a turn-based game.

D'Amico-Wong et al. 2024 (arXiv 2402.11835, sec. 5): row payoffs R [0,-1,1], P [1,0,-2], S [-1,2,0],
zero-sum; its Nash equilibrium plays (1/2, 1/4, 1/4).
"""

from __future__ import annotations

import pyspiel

from econcs.abcs._game import CompiledGame, load_game

__all__ = ["weighted_rps"]


def weighted_rps() -> CompiledGame:
    """The paper's weighted rock-paper-scissors (row payoffs R [0,-1,1], P [1,0,-2], S [-1,2,0];
    zero-sum), compiled as a turn-based game (player 1 does not see player 0's move)."""
    row = [[0.0, -1.0, 1.0], [1.0, 0.0, -2.0], [-1.0, 2.0, 0.0]]
    col = [[-v for v in r] for r in row]
    matrix = pyspiel.create_matrix_game("weighted_rps", "Weighted rock-paper-scissors",
                                        ["R", "P", "S"], ["R", "P", "S"], row, col)
    return load_game(pyspiel.convert_to_turn_based(matrix))
