"""``facelens enroll | identify | gallery ...``: the local identity gallery."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from facelens.agent.cli import CommandTable, emit, print_json
from facelens.agent.cli.options import add_detector_option, add_json_flag

if TYPE_CHECKING:
    from facelens.tools.identity_base import Person

HELP_ORDER = 30
COMMANDS = CommandTable()

CONSENT = "Enrol only people who agreed to it. Face embeddings are biometric data; they stay in FACELENS_HOME on this machine."


def _enroll_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument("images", nargs="+", help="photos or tight face crops of the person")
    p.add_argument("--face", type=int, default=None, help="which face (1 = leftmost) when a photo has several")
    add_json_flag(p)
    add_detector_option(p)


@COMMANDS.command("enroll", _enroll_arguments)
def cmd_enroll(args: argparse.Namespace) -> int:
    """add a person to the local identity gallery"""
    from facelens.tools import identity
    from facelens.tools.identity_store import open_gallery

    gallery = open_gallery()
    existing = gallery.canonical(identity.check_name(args.name))
    done = identity.enroll(args.name, args.images, face=args.face, detector=args.detector, gallery=gallery)
    if args.json:
        print_json([e.to_dict() for e in done])
    elif existing is not None:
        same = (
            ""
            if existing == identity.check_name(args.name)
            else f" (names are matched without regard to case: '{args.name}' is {existing})"
        )
        print(f"Added {len(done)} image(s) to {existing}, who was already enrolled{same}. {CONSENT}")
    else:
        print(f"Enrolled {done[0].name} from {len(done)} image(s). {CONSENT}")
    return 0


def _images_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+")
    add_json_flag(p)
    add_detector_option(p)


@COMMANDS.command("identify", _images_arguments)
def cmd_identify(args: argparse.Namespace) -> int:
    """name the enrolled people in photos"""
    from facelens.agent.assistant.api import Identified, identify
    from facelens.tools import faces
    from facelens.tools.errors import FacelensError
    from facelens.tools.identity_store import open_gallery

    gallery = open_gallery()  # opened once for all images
    results, failed = [], 0
    for path in args.images:
        try:
            found = identify(path, label=path, detector=args.detector or faces.DEFAULT_DETECTOR, gallery=gallery)
        except FacelensError as exc:  # one bad image must not lose the others' results
            failed += 1
            found = Identified(path, error=str(exc))
        results.append(found.to_dict())
    if args.json:
        print_json(results)
    else:
        if not len(gallery):
            print("The gallery is empty: enrol people first with `facelens enroll NAME IMAGE...`.", file=sys.stderr)
        for r in results:
            if "error" in r:
                print(f"{r['image']}: error: {r['error']}")
                continue
            print(f"{r['image']}: {len(r['faces'])} face(s)")
            for i, f in enumerate(r["faces"], 1):
                ident = f["identity"]
                who = (
                    "no gallery"
                    if ident is None
                    else (
                        f"{ident['name']} (distance {ident['distance']:.2f})"
                        if ident["known"]
                        else f"unknown (nearest distance {ident['distance']:.2f})"
                    )
                )
                print(f"  face {i} at {f['box']}: {who}")
    return 2 if failed else 0


GALLERY = COMMANDS.group("gallery", "list, remove, import or migrate people in the gallery")


@GALLERY.command("list", add_json_flag)
def cmd_list(args: argparse.Namespace) -> int:
    """who is enrolled"""
    from facelens.tools.identity_store import open_gallery

    gallery = open_gallery()
    people = gallery.people()
    if gallery.damaged:
        print(
            f"facelens: warning: the gallery file is damaged ({gallery.damaged}); listing its last good generation. "
            "Run `facelens gallery repair` to restore it.",
            file=sys.stderr,
        )
    return emit(args, people, _print_people)


def _print_people(people: list[Person]) -> None:
    if not people:
        print("The gallery is empty.")
    else:
        for p in people:
            print(f"{p.name}: {p.images} image(s)")


def _remove_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    add_json_flag(p, help='print {"name", "embeddings", "cache_files", "exemplars", "session_tracks", "notes"}')


@GALLERY.command("remove", _remove_arguments)
def cmd_remove(args: argparse.Namespace) -> int:
    """delete a person from every store: gallery, caches, exemplars, session tracks"""
    from facelens.agent.erasure import erase_person

    done = erase_person(args.name)
    if args.json:
        print_json(done.to_dict())
    else:
        print(done.summary())
    if not done.complete:  # what was deleted is printed above; the rest is not done, and the exit code says so
        print(f"facelens: the erasure of {done.name} is incomplete: {'; '.join(done.notes)}", file=sys.stderr)
        return 2
    return 0


@GALLERY.command("repair", add_json_flag)
def cmd_repair(args: argparse.Namespace) -> int:
    """restore the last good generation of a damaged gallery (and exemplar store)"""
    from facelens.tools.exemplars import ExemplarStore
    from facelens.tools.identity_store import open_gallery

    messages = [open_gallery().repair(), ExemplarStore(builtins=False).repair()]
    if args.json:
        print_json({"done": messages})
    else:
        print("\n".join(messages))
    return 0


def _migrate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to", required=True, choices=["milvus", "faiss"], help="the store to move the gallery into (it must be empty)"
    )
    p.add_argument(
        "--keep-source",
        action="store_true",
        help="keep a copy in the old store (default: emptied once the copy is verified)",
    )
    add_json_flag(p, help='print {"source", "target", "people", "embeddings", "verified", "source_cleared", ...}')


@GALLERY.command("migrate", _migrate_arguments)
def cmd_migrate(args: argparse.Namespace) -> int:
    """move the gallery between the FAISS file and Milvus, without loss"""
    from facelens.tools.identity_store import migrate

    return emit(args, migrate(args.to, keep_source=args.keep_source), _print_migrate)


def _print_migrate(done) -> None:
    left = "kept (--keep-source)" if not done.source_cleared else "emptied"
    print(
        f"Moved {done.people} {'person' if done.people == 1 else 'people'} ({done.embeddings} embedding(s)) from the {done.source_location} to the {done.target_location}; "
        f"read back and verified: same names, sources, times and vectors. The {done.source} gallery was {left}.\n"
        f"Use it with: FACELENS_IDENTITY_STORE={done.target} (or identity_store: {done.target} in config.yaml)."
    )


def _import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder")
    add_json_flag(p)
    add_detector_option(p)


@GALLERY.command("import", _import_arguments)
def cmd_import(args: argparse.Namespace) -> int:
    """enrol a folder: one sub-folder per person, or First_Last_0001.jpg files"""
    from facelens.tools import identity
    from facelens.tools.errors import FacelensError
    from facelens.tools.identity_store import open_gallery

    groups = identity.import_folder(args.folder)
    gallery = open_gallery()
    summary = {"enrolled": {}, "skipped": []}
    total = sum(len(v) for v in groups.values())
    done = 0
    for name, files in groups.items():
        ok = 0
        for f in files:
            done += 1
            print(f"[{done}/{total}] {name}: {f.name}", file=sys.stderr)
            try:
                identity.enroll(name, [f], gallery=gallery, detector=args.detector)
                ok += 1
            except FacelensError as exc:
                summary["skipped"].append({"file": str(f), "reason": str(exc)})
        if ok:
            summary["enrolled"][name] = ok
    if args.json:
        print_json(summary)
    else:
        print(
            f"Enrolled {len(summary['enrolled'])} people from {sum(summary['enrolled'].values())} image(s); skipped {len(summary['skipped'])}."
        )
        for s in summary["skipped"]:
            print(f"  skipped {s['file']}: {s['reason']}")
    return 0
