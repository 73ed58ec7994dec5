"""``hub data captcha``: write generated data sets as image files."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add the ``data`` command group."""
    data = subparsers.add_parser("data", help="write generated data sets as image files",
                                 description="Write generated data sets as image files.")
    kinds = data.add_subparsers(dest="kind", metavar="KIND", required=True)
    p = kinds.add_parser(
        "captcha", help="inverted-character captchas, named <characters>_<inverted positions>.jpeg",
        description="Write captchas of hub.data.captcha as JPEG files named <characters>_<inverted positions>.jpeg "
        "(positions from 0), as the notes do; the same seed always writes the same images.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write to (created when missing)")
    p.add_argument("--count", required=True, type=int, metavar="N", help="number of images")
    p.add_argument("--seed", type=int, default=0, help="seed of the stream (default 0)")
    p.add_argument("--start", type=int, default=0, help="number of the first image in the stream (default 0)")
    p.add_argument("--length", type=int, default=10, help="characters per image (default 10)")
    p.add_argument("--font", action="append", metavar="NAME",
                   help="a font face by name part (repeatable; default: every installed CJK face)")
    p.add_argument("--no-augment", action="store_true", help="black on white, no shifts, tilts or noise")
    p.set_defaults(func=captcha_command)


def captcha_command(args) -> int:
    """Write the captchas and print how many, and where."""
    from hub_core.data.captcha_images import write_captchas
    from hub_core.errors import InvalidArgumentError

    if args.count < 1:
        raise InvalidArgumentError(f"--count must be at least 1, got {args.count}.")
    written = write_captchas(args.out, args.count, seed=args.seed, start=args.start, length=args.length,
                             inverted=(min(3, args.length), min(6, args.length)), fonts=args.font,
                             augment=not args.no_augment)
    print(f"wrote {len(written)} captchas to {args.out}")
    return 0
