"""``hub data captcha`` and ``hub data characters``: write generated data sets as image files."""

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

    p = kinds.add_parser(
        "characters", help="printed Chinese characters (not handwriting), one image folder per class",
        description="Render the most frequent GB2312 level-1 characters (jieba's dictionary order) from the installed "
        "CJK fonts at 64x64, augmented, into DIR/train (the training fonts) and DIR/test (a held-out font), one "
        "sub-folder per class: printed characters, a stand-in for CASIA-HWDB, not handwriting.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write train/ and test/ in")
    p.add_argument("--classes", type=int, default=500, metavar="N", help="most frequent characters, 2 to 3755 (default 500)")
    p.add_argument("--per-font", type=int, default=20, metavar="N", help="images per character and training font (default 20)")
    p.add_argument("--test-per-font", type=int, default=5, metavar="N", help="images per character in the test font (default 5)")
    p.add_argument("--test-font", default=None, metavar="NAME",
                   help="held-out face by name part (default: Noto Serif CJK SC Regular)")
    p.add_argument("--train-font", action="append", metavar="NAME",
                   help="a training face by name part (repeatable; default: WenQuanYi Zen Hei, WenQuanYi Micro Hei, "
                   "Noto Sans CJK SC Regular and Bold)")
    p.add_argument("--seed", type=int, default=0, help="seed of the augmentation (default 0)")
    p.set_defaults(func=characters_command)


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


def characters_command(args) -> int:
    """Write the character folders and print what went where."""
    from hub_core.data.character_images import TEST_FONT, characters

    written = characters(args.out, classes=args.classes, per_font=args.per_font, test_per_font=args.test_per_font,
                         test_font=args.test_font or TEST_FONT, train_fonts=args.train_font, seed=args.seed)
    print(f"wrote {len(written.characters)} classes: {written.train} ({', '.join(f.name for f in written.train_fonts)}, "
          f"{args.per_font} per font), {written.test} ({', '.join(f.name for f in written.test_fonts)}, "
          f"{args.test_per_font} per font)")
    return 0
