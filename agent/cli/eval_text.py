"""``facelens eval text-emotion CSV [--json] [--model minilm|lexicon]``: the words' emotion against labelled text.

With ``dialogue`` and ``utterance`` columns (MELD's), each utterance is read with the one before it."""

from __future__ import annotations

import argparse

from facelens.agent.cli import CommandTable, emit
from facelens.agent.cli.options import add_json_flag

HELP_ORDER = 50
EVAL_COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("csv", metavar="CSV")
    add_json_flag(p, help="accuracy, weighted_f1, macro_f1, recall per class and n as JSON")
    p.add_argument(
        "--model",
        choices=["minilm", "lexicon"],
        default=None,
        help="which estimator (default: FACELENS_TEXT_EMOTION, else minilm where installed)",
    )


@EVAL_COMMANDS.command("text-emotion", _arguments)
def cmd_text_emotion(args: argparse.Namespace) -> int:
    """the words' emotion on a CSV with columns text,label

    Score the words'-emotion estimator on a labelled CSV (columns text,label).
    """
    from facelens.eval.text_emotion import evaluate_text_emotion

    return emit(args, evaluate_text_emotion(args.csv, model=args.model), _print_text_emotion)


def _print_text_emotion(r) -> None:
    print(
        f"words' emotion ({r['model']}) on {r['n']} texts: accuracy {r['accuracy']:.3f}, "
        f"weighted F1 {r['weighted_f1']:.3f}, macro F1 {r['macro_f1']:.3f}"
    )
    for name, rec in r["recall"].items():  # type: ignore[union-attr]
        print(f"  recall {name:<9} {rec:.3f}")
