"""The ``paramcount`` command: parse arguments, call one library function, render, and be the error boundary.

Exit codes: 0 ok, 1 verification failed, 2 usage error, 3 unreadable or malformed target, 4 unsafe target.
Errors print one line on stderr; ``PARAMCOUNT_DEBUG=1`` shows the traceback instead. The report's warnings go to
stderr too, one ``paramcount: warning:`` line each (the JSON and Markdown documents also carry them).

The arguments are parsed by :mod:`argparse`, from one table of options (:data:`_FLAGS`) that the help comes from
too: option names must be spelled out (``allow_abbrev=False``), an option given twice is refused rather than
silently overridden, and only the parser of the command run is built.
"""

from __future__ import annotations

import os
import sys

from paramcount._gc import collection_paused
from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount._version import __version__
from paramcount.errors import ParamcountError, UsageError, VerificationError, quote
from paramcount.limits import LIMITS
from paramcount.render import FORMATS
from paramcount.render._text import encodable, printable
from paramcount.sources import names_code

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn

    from paramcount.limits import Limits
    from paramcount.report import Report

__all__ = ["main"]

_PROG = "paramcount"
# Text formats are read by people and default to a shallow tree; machine formats default to every module.
_DEFAULT_DEPTH = {"table": 2, "markdown": 2, "json": None, "csv": None, "html": None}
# Formats whose document carries the warnings itself; for the others they appear on stderr only.
_DOCUMENTS = ("json", "markdown", "html")

_TARGETS = """\
TARGET is one of:
  a checkpoint file     model.safetensors, pytorch_model.bin, model.pt, old.pt (pre-1.6), llama.Q4_K_M.gguf
  an index              model.safetensors.index.json, pytorch_model.bin.index.json
  a model folder        ./Llama-2-7b-hf/ (its index or weights, with config.json), a DCP checkpoint folder
  a model folder's config   ./config.json, or a folder with config.json and no weights: built on the meta device
  a model in code       'package.module:callable(args)' or 'package.module:attribute', built on the meta device
  a URL                 hf://org/name[@revision][/path], https://host/model.safetensors, s3://bucket/key
  a Hugging Face id     org/name or org/name@revision: the local cache when it holds the weights, else the Hub
An existing path wins, then code, then a URL, then an id. Files are read from their headers, inertly: torch is
not imported and no pickle code runs; remote files are read by range requests, headers only (HF_ENDPOINT,
HF_TOKEN; HF_HUB_OFFLINE=1 for the caches only); a folder's config.json decides which tensors are parameters."""

# the devices memory --help names (paramcount.footprint.plan.GPUS has them all)
GPUS_SHOWN = ("H100", "H200", "B200", "A100", "A100-40GB", "L40S", "L4")

#: each command's description (the first line is its summary in the program's help)
_COMMANDS = {
    "count": "Count the parameters of TARGET and print a report.",
    "verify": "Count the parameters of TARGET and exit 1 unless every expected figure matches.",
    "check": """\
Would WEIGHTS load into the model? Answers as the model's loader would, without loading anything: for a
transformers class, the keys from_pretrained(..., output_loading_info=True, ignore_mismatched_sizes=True) reports
missing, unexpected and mismatched (after its renames, fused experts, prefixes, ties and ignore rules), and those
it ignores by rule; for a model in code, what load_state_dict(strict=False) reports, shape mismatches apart.

WEIGHTS is any weights TARGET of count: a file, an index, a model folder, a URL or a Hub id.
TARGET (--model) is the model: by default the class WEIGHTS' config.json names; a config.json, a folder holding
one, a Hub id or URL (its config.json), or 'package.module:callable(args)'.""",
    "diff": """\
Compare the tensors of two models: those only A holds, those only B holds, those whose shape or dtype changed,
each module's parameters (runs of layers that changed alike collapsed to one row), and the totals.

A and B are any TARGETs of count: files, folders, config.json files, Hub ids with revisions (org/name@v1), URLs,
'package.module:callable(args)'. Remote targets are read header-only. Names are compared after each side's
architecture normalised them: the fused and per-expert spellings of the same experts are one tensor, a base
model's prefix is not a difference, and stale tensors a loader ignores are left out.""",
    "memory": "Estimate the memory one device needs to serve or train TARGET, from its exact count and its "
    "configuration.\nEvery figure is bytes per device; the assumptions behind them are listed under the table.",
}
#: what the program's help says each command does
_SUMMARIES = {
    "count": "count parameters and print a report",
    "verify": "count parameters and exit 1 unless they match the expectation",
    "check": "would these weights load into that model? the keys its loader would report missing,\n"
    "          unexpected or mismatched; exit 1 unless they load cleanly",
    "diff": "compare two models' tensors: only in one, changed shape or dtype, parameters per module;\n"
    "          exit 1 unless they hold the same parameters",
    "memory": "the memory one device needs to serve or train the model: weights, KV cache, gradients,\n"
    "          optimizer states, activations, with every assumption listed",
}
_POSITIONALS = {"count": "TARGET", "verify": "TARGET", "check": "WEIGHTS", "diff": "A B", "memory": "TARGET"}

_ALL = frozenset(_COMMANDS)
_READ = _ALL  # options that say how a target is read


class _Flag(NamedTuple):
    """One option of the command line: the one table its parsing and its help come from."""

    name: str
    #: the commands that take it
    commands: frozenset[str]
    help: str
    #: the value's name in the help; ``None`` for a switch that takes no value
    metavar: str | None = None
    #: given more than once, each value counts (``--limit``); otherwise a second one is refused
    repeatable: bool = False
    #: the heading it is listed under
    group: str = "reading the target"

    @property
    def field(self) -> str:
        return _FIELDS.get(self.name, self.name[2:].replace("-", "_"))


#: fields whose name differs from the flag's
_FIELDS = {"--expect": "total", "--expect-trainable": "trainable", "--expect-frozen": "frozen",
           "--expect-buffers": "buffers"}  # fmt: skip

_FLAGS = (
    # what is compared (verify)
    _Flag("--expect", frozenset({"verify"}), "expected total parameters: 7850, 7,850, 124.4M, 6.74B, 1.2e9", "N",
          group="expectations"),
    _Flag("--expect-trainable", frozenset({"verify"}), "expected trainable parameters", "N", group="expectations"),
    _Flag("--expect-frozen", frozenset({"verify"}), "expected frozen parameters", "N", group="expectations"),
    _Flag("--expect-buffers", frozenset({"verify"}), "expected buffer elements", "N", group="expectations"),
    _Flag("--tolerance", frozenset({"verify"}), "allowed difference: a count (1000, 1K) or a percentage (0.5%); "
          "default: the precision the expectation is written with (124.4M means +-50,000; a whole number is exact)",
          "T", group="expectations"),
    _Flag("--model", frozenset({"check"}), "the model to load WEIGHTS into (default: WEIGHTS' own config.json)",
          "TARGET", group="the model"),
    _Flag("--strict-dtype", frozenset({"diff"}), "a dtype change is a difference (by default it is listed, and the "
          "models are the same)", group="the comparison"),
    # the memory plan
    _Flag("--mode", frozenset({"memory"}), "inference (default: weights, buffers, KV cache) or training (also "
          "gradients, optimizer states, fp32 master weights, partitioned by --strategy)", "MODE", group="the plan"),
    _Flag("--dtype", frozenset({"memory"}), "the weights' dtype: float32, bfloat16 (bf16), float16 (fp16), "
          "float8_e4m3fn (fp8), int8, int4 (default: as stored; a config.json's torch_dtype; a model from code as "
          "built)", "DTYPE", group="the plan"),
    _Flag("--batch", frozenset({"memory"}), "sequences per batch (default 1)", "B", group="the plan"),
    _Flag("--seq", frozenset({"memory"}), "tokens per sequence (8192, or 8k = 8,192): adds the KV cache (inference) "
          "and is needed by --activations", "S", group="the plan"),
    _Flag("--kv-dtype", frozenset({"memory"}), "the KV cache's dtype (default: the weights' floating dtype)", "DTYPE",
          group="the plan"),
    _Flag("--optimizer", frozenset({"memory"}), "adamw (default), adamw-8bit (bitsandbytes), sgd, sgd-momentum, "
          "adafactor (transformers)", "NAME", group="the plan"),
    _Flag("--precision", frozenset({"memory"}), "mixed (default: 16-bit weights and gradients, fp32 master weights "
          "and optimizer states) or pure (everything in the weights' dtype)", "P", group="the plan"),
    _Flag("--gpus", frozenset({"memory"}), "devices (default 1): inference replicates the model, training "
          "partitions by --strategy", "N", group="the plan"),
    _Flag("--strategy", frozenset({"memory"}), "training: ddp (default), zero1, zero2, zero3, fsdp (full shard); "
          "inference: ddp (default: a replica per device) or tp (tensor parallel: matrices and KV heads split)",
          "NAME", group="the plan"),
    _Flag("--convention", frozenset({"memory"}), "paper (default: the ZeRO paper's 2+2+12 bytes per parameter) or "
          "deepspeed (DeepSpeed's estimate_zero2/zero3_model_states_mem_needs: adds an fp32 gradient partition)",
          "C", group="the plan"),
    _Flag("--activations", frozenset({"memory"}), "measure: run the forward on fake tensors (no compute, no memory) "
          "and add what autograd saves", "measure", group="the plan"),
    _Flag("--gpu-memory", frozenset({"memory"}), f"one device's memory: 80GiB, 80GB, or a device "
          f"({', '.join(GPUS_SHOWN)}, ...): answers fits or does not fit, with the headroom", "SIZE|DEVICE",
          group="the plan"),
    # the report
    _Flag("--format", _ALL, f"{' | '.join(FORMATS)} (default: table; json carries everything)", "FORMAT",
          group="the report"),
    _Flag("--depth", _ALL - {"memory"}, "module tree depth (default: 2 for table and markdown, all for json and "
          "csv)", "N|all", group="the report"),
    _Flag("--expand", frozenset({"count", "verify"}), 'one row per block where repeated blocks collapse to one row '
          '("0–31  32 × LlamaDecoderLayer")', group="the report"),
    _Flag("--tensors", frozenset({"count", "verify", "check"}), "add a table of every tensor: name, shape, dtype, "
          "role, trainable or frozen", group="the report"),
    _Flag("--output", _ALL, "write the report to FILE instead of stdout (e.g. --format html --output report.html; - is "
          "stdout)",
          "FILE", group="the report"),
    # how the target is read
    _Flag("--device", _READ, "device to build a model from code on: meta (default, no memory) or cpu", "DEVICE"),
    _Flag("--limit", _READ, "raise or lower a file-reading limit, e.g. --limit pickle-bytes=1GiB (repeatable); NAME "
          f"is one of: {', '.join(LIMITS)}", "NAME=N", repeatable=True),
    _Flag("--architecture", _READ - {"check"}, "how a folder's config.json decides each stored tensor's role: table "
          "(default: paramcount's table of transformers architectures, and a meta-device build for one it does not "
          "know), build (always build the model on the meta device), off (name rules only)", "MODE"),
    _Flag("--architecture", frozenset({"check"}), "table (default: names from paramcount's table, shapes from a "
          "meta-device build when transformers is installed) or build (always build the model on the meta device)",
          "MODE"),
    _Flag("--trust-remote-code", frozenset({"count", "verify", "memory"}), "let a config.json whose auto_map names "
          "the folder's own model code run that code (from the folder only; nothing is downloaded)"),
    _Flag("--base", frozenset({"count", "verify", "memory"}), "for a PEFT adapter folder: its base model (a path or "
          "a cached id), counted frozen beside it", "TARGET"),
    _Flag("--file", _ALL - {"diff"}, "count one file of a folder or repository (one quantization of a GGUF "
          "repository)", "NAME"),
    _Flag("--no-cache", _READ, "neither use nor keep paramcount's cache of remote header bytes"),
    _Flag("--quiet", _READ, "no progress bar on stderr while a remote target's files are read"),
    _Flag("--experts-per-token", _ALL - {"diff"}, 'for a mixture of experts: the experts each token uses in '
          '"active per token" (default: the configuration\'s num_experts_per_tok)', "K"),
)  # fmt: skip

_EXAMPLES = {
    "count": f"""\
  {_PROG} count model.safetensors
  {_PROG} count ./Llama-2-7b-hf/ --format json
  {_PROG} count ./Llama-2-7b-hf/config.json
  {_PROG} count meta-llama/Llama-3.1-70B              (the Hub: a few hundred KB of headers)
  {_PROG} count TheBloke/Llama-2-7B-GGUF --file llama-2-7b.Q4_K_M.gguf
  {_PROG} count https://example.com/models/model.safetensors
  {_PROG} count ./Llama-2-7b-hf/ --format html --output report.html
  {_PROG} count 'torch.nn:Linear(784, 10)'
  {_PROG} count 'transformers:GPT2LMHeadModel(transformers:GPT2Config())' --depth 1

A model named in code is imported and built as 'python -m' would: the current folder is on the import path.
The table fits COLUMNS (or the terminal), in colour on a terminal when rich is installed (NO_COLOR, FORCE_COLOR).""",
    "verify": f"""\
  {_PROG} verify model.safetensors --expect 124,439,808
  {_PROG} verify 'torch.nn:Linear(784, 10)' --expect 7.85K --expect-trainable 7850

verify prints what it compared: each figure's expectation, the tolerance in effect, the count and the outcome
(json and html carry it as "verification", on success and on failure).""",
    "check": f"""\
  {_PROG} check ./converted/                           (its own config.json)
  {_PROG} check ./converted/ --model meta-llama/Llama-3.1-8B
  {_PROG} check finetune.safetensors --model ./Llama-3.1-8B/config.json --format json
  {_PROG} check state_dict.pt --model 'mypackage.models:Net(width=256)'""",
    "diff": f"""\
  {_PROG} diff ./base/ ./finetuned/                     (a fine-tune against its base)
  {_PROG} diff ./converted/ meta-llama/Llama-3.1-8B     (a conversion against the Hub original)
  {_PROG} diff org/name@v1 org/name@v2                  (two revisions, headers only)

The report is B's; json carries the comparison as "diff".""",
    "memory": f"""\
  {_PROG} memory meta-llama/Llama-3.1-8B --dtype bf16 --seq 8k --gpu-memory H100
  {_PROG} memory meta-llama/Llama-3.1-70B --mode training --dtype bf16 --gpus 8 --strategy zero3
  {_PROG} memory ./config.json --mode training --seq 2048 --batch 4 --activations measure
  {_PROG} memory 'torch.nn:Linear(784, 10)' --mode training --optimizer sgd-momentum""",
}

_UNSAFE = "  4  unsafe: loading a file would run code (nothing in it was run)"
#: each command's exit codes (and the program's, under None)
_EXIT_CODES = {
    None: f"""\
  0  ok
  1  verification failed (verify), the weights do not load (check), the models differ (diff)
  2  usage error: a bad option, expected count or tolerance
  3  the target cannot be read: missing, malformed, not a checkpoint, over a limit, its model cannot be
     built, or memory ran out
{_UNSAFE}""",
    "count": f"""\
  0  counted
  2  usage error: a bad option
  3  the target cannot be read: missing, malformed, not a checkpoint, over a limit, its model cannot be
     built, or memory ran out
{_UNSAFE}""",
    "verify": f"""\
  0  every expected figure matches
  1  verification failed (every mismatch listed)
  2  usage error: a bad option, expected count or tolerance
  3  the target cannot be read: missing, malformed, not a checkpoint, over a limit, its model cannot be
     built, or memory ran out
{_UNSAFE}""",
    "check": f"""\
  0  the weights load: nothing missing, unexpected or mismatched
  1  they do not: every problem listed
  2  usage error
  3  WEIGHTS or TARGET cannot be read, holds no weights, or is not a model
{_UNSAFE}""",
    "diff": f"""\
  0  the same parameters with the same shapes (dtype changes listed; with --strict-dtype, none)
  1  they differ: every difference listed
  2  usage error, or A and B are the same path
  3  A or B cannot be read, or is not a model
{_UNSAFE}""",
    "memory": f"""\
  0  estimated (with --gpu-memory, fits or not is in the answer, not the exit code)
  2  usage error: a bad option or a plan the model does not allow
  3  the target cannot be read, or its activations cannot be measured
{_UNSAFE}""",
}


def _program_help() -> str:
    commands = "\n".join(f"  {name:<7} {summary}" for name, summary in _SUMMARIES.items())
    usages = "\n".join(
        f"{'usage:' if i == 0 else '      '} {_PROG} {name} {_POSITIONALS[name]} [options]"
        for i, name in enumerate(_COMMANDS)
    )
    return (
        f"{usages}\n       {_PROG} --version\n\nCount and verify the parameters of PyTorch models, exactly.\n\n"
        f"commands:\n{commands}\n\n{_TARGETS}\n\nRun '{_PROG} COMMAND --help' for a command's options.\n\n"
        f"exit codes:\n{_EXIT_CODES[None]}\n"
    )


class _HelpShown(Exception):  # noqa: N818 -- not an error: --help or --version was answered
    """Raised after printing help or the version: the run ends with exit code 0."""


class _Arguments(NamedTuple):
    command: str
    target: str
    values: dict[str, str]
    limits: list[str]


def _usage(problem: str, command: str | None = None) -> UsageError:
    where = f"{_PROG} {command} --help" if command else f"{_PROG} --help"
    return UsageError(problem, fix=f"see '{where}'")


def _parser(command: str) -> Any:
    """The parser of one command, built from :data:`_FLAGS` (only the command run is built: a count pays for one)."""
    import argparse

    class Parser(argparse.ArgumentParser):
        """Errors as paramcount's one-line usage errors; help through :func:`_write`, then exit 0."""

        def error(self, message: str) -> NoReturn:
            raise _usage(message, command)

        def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
            if status:
                raise _usage(message or "bad arguments", command)
            raise _HelpShown

        def print_help(self, file: Any = None) -> None:
            _write(self.format_help())

    class Formatter(argparse.RawDescriptionHelpFormatter):
        """argparse's formatter, told its width: its own default imports shutil (with bz2, lzma, fnmatch) to ask
        the terminal, and argparse makes a formatter for every option added, so every run paid for it."""

        def __init__(self, prog: str) -> None:
            super().__init__(prog, width=_help_width())

    class Once(argparse.Action):
        """Store an option's value, refusing a second one (argparse would keep the last silently)."""

        def __call__(self, parser: Any, namespace: Any, value: Any, option: str | None = None) -> None:
            before = getattr(namespace, self.dest, None)
            if self.nargs == 0:
                if before is not None:
                    raise argparse.ArgumentError(self, "is given twice; give it once")
                value = "yes"
            elif before is not None:
                raise argparse.ArgumentError(
                    self, f"is given twice ({quote(before, 60)} and {quote(value, 60)}); give it once"
                )
            setattr(namespace, self.dest, value)

    parser = Parser(
        prog=f"{_PROG} {command}",
        usage=f"{_PROG} {command} {_POSITIONALS[command]} [options]",
        description=_COMMANDS[command] + ("" if command in ("check", "diff") else f"\n\n{_TARGETS}"),
        epilog=f"examples:\n{_EXAMPLES[command]}\n\nexit codes:\n{_EXIT_CODES[command]}",
        formatter_class=Formatter,
        allow_abbrev=False,
        exit_on_error=False,
    )
    parser.add_argument("targets", nargs="*", help=argparse.SUPPRESS)
    groups: dict[str, Any] = {}
    for flag in _FLAGS:
        if command not in flag.commands:
            continue
        group = groups.get(flag.group) or groups.setdefault(flag.group, parser.add_argument_group(flag.group))
        text = flag.help.replace("%", "%%")  # argparse formats help with %
        if flag.repeatable:
            group.add_argument(flag.name, dest=flag.field, metavar=flag.metavar, action="append", help=text)
        else:
            group.add_argument(
                flag.name,
                dest=flag.field,
                metavar=flag.metavar,
                action=Once,
                nargs=0 if flag.metavar is None else None,
                help=text,
            )
    return parser


def _help_width() -> int:
    """The help's width: the table's (``COLUMNS``, else the terminal's), else 80; less 2, as argparse takes it."""
    return (_width({}) or 80) - 2


def _parse(argv: Sequence[str]) -> _Arguments:
    """The command, its TARGET and its option values, with every spelling and repetition checked."""
    args = list(argv)
    if not args or args[0] in ("-h", "--help"):
        if not args:
            raise _usage("name a command: count, verify, check, diff or memory")
        _write(_program_help())
        raise _HelpShown
    if args[0] == "--version":
        _write(f"{_PROG} {__version__}\n")
        raise _HelpShown
    command, rest = args[0], args[1:]
    if command not in _COMMANDS:
        raise _usage(f"unknown command {quote(command, 60)}; the commands are count, verify, check, diff and memory")
    import argparse

    parser = _parser(command)
    try:
        namespace, unknown = parser.parse_known_args(rest)
    except argparse.ArgumentError as e:
        name = e.argument_name or "an option"
        if "expected one argument" in e.message:
            at = rest.index(name) + 1 if name in rest else len(rest)
            if at < len(rest) and rest[at].startswith("-"):  # -5%, -1e9: argparse takes them for options
                written = quote(f"{name}={rest[at]}", 60)
                raise _usage(f"{name} needs a value; write one that starts with '-' as {written}", command) from None
            raise _usage(f"{name} needs a value", command) from None
        if "ignored explicit argument" in e.message:
            raise _usage(f"{name} takes no value", command) from None
        raise _usage(f"{name} {e.message}", command) from None
    for arg in unknown:
        if arg.startswith("-") and arg != "-":
            raise _unknown(arg.partition("=")[0], command)
    values = {key: value for key, value in vars(namespace).items() if value is not None and key != "targets"}
    limits = values.pop("limit", [])
    targets = [*namespace.targets, *unknown]
    if not targets:
        raise _usage(f"{command} needs a TARGET: a checkpoint file, a model folder or 'module:callable(args)'", command)
    if command == "diff":
        if len(targets) != 2:
            raise _usage(f"diff takes two TARGETs, A and B, got {len(targets)}", command)
        values["second"] = targets[1]
    elif len(targets) > 1:
        raise _usage(f"{command} takes one TARGET, got {len(targets)}: {', '.join(map(repr, targets[:3]))}", command)
    return _Arguments(command, targets[0], values, limits)


def _unknown(name: str, command: str) -> UsageError:
    """An unknown option, with the options it may abbreviate or misspell."""
    known = [flag.name for flag in _FLAGS if command in flag.commands]
    close = sorted(option for option in known if option.startswith(name)) if name.startswith("--") else []
    hint = f" (did you mean {' or '.join(close)}? options are spelled out in full)" if close else ""
    if not close:
        import difflib

        near = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f" (did you mean {near[0]}?)" if near else ""
    return _usage(f"unknown option {quote(name, 60)} for {command}{hint}", command)


def _depth(text: str | None, format: str, command: str) -> int | None:
    if text is None:
        return _DEFAULT_DEPTH[format]
    if text == "all":
        return None
    if not _digits(text):
        raise _usage(f"--depth must be a number >= 0 or 'all', not {quote(text, 60)}", command)
    return int(text)


def _run(argv: Sequence[str]) -> int:
    args = _parse(argv)
    values = args.values
    format = values.get("format", "table")
    if format not in FORMATS:
        raise _usage(f"--format must be one of {', '.join(FORMATS)}, not {quote(format, 60)}", args.command)
    depth = _depth(values.get("depth"), format, args.command)
    device = values.get("device", "meta")
    expected: dict[str, int | str] = {
        figure: values[figure] for figure in ("total", "trainable", "frozen", "buffers") if figure in values
    }
    if args.command == "verify" and not expected:
        raise UsageError(
            "verify needs an expectation",
            fix="add --expect N (or --expect-trainable, --expect-frozen, --expect-buffers)",
        )

    from paramcount.limits import parse_limits

    limits = parse_limits(args.limits)  # an unknown name or a bad value is a usage error before anything is read
    if values.get("output") == "-":  # standard output, as Unix tools read '-'
        del values["output"]
    if "output" in values:
        _writable(values["output"])  # before the work, which may take a build of seconds
        _not_read(values["output"], [args.target, values.get("second", ""), values.get("model", "")])
    if "architecture" in values:  # before a model in code is imported
        from paramcount.sources.architecture import check_mode

        check_mode(values["architecture"])
    target = args.target
    if names_code(target):
        from paramcount.sources.spec import preflight

        _import_path()
        preflight(target.strip())  # a misspelt package fails before torch is imported
        if os.environ.get("PARAMCOUNT_DEBUG") != "1":
            with _Quiet():
                return _answer(args, target=target, depth=depth, device=device, limits=limits, expected=expected)
    return _answer(args, target=target, depth=depth, device=device, limits=limits, expected=expected)


def _answer(
    args: _Arguments,
    *,
    target: str,
    depth: int | None,
    device: str,
    limits: Limits,
    expected: dict[str, int | str],
) -> int:
    """Count or verify, print the answer, and the warnings on stderr."""
    import paramcount

    values = args.values
    format = values.get("format", "table")
    architecture, trust = values.get("architecture", "table"), "trust_remote_code" in values
    file, cache = values.get("file"), "no_cache" not in values
    experts_per_token = _positive(values.get("experts_per_token"), "--experts-per-token", args.command)
    progress = "quiet" not in values and sys.stderr.isatty()
    # what count and verify take alike
    options: dict[str, Any] = {
        "depth": None if args.command == "memory" else depth,  # memory finds FSDP's block among every row
        "device": device,
        "limits": limits,
        "architecture": architecture,
        "trust_remote_code": trust,
        "base": values.get("base"),
        "file": file,
        "cache": cache,
        "progress": progress,
        "experts_per_token": experts_per_token,
    }
    if args.command == "count":
        report = paramcount.count(target, **options)
        _emit(_render(report, format, values), values)
    elif args.command == "diff":
        second = values["second"]
        if names_code(second) or names_code(target):
            _import_path()
        report = paramcount.diff(
            target,
            second,
            strict_dtype="strict_dtype" in values,
            architecture=architecture,
            device=device,
            limits=limits,
            depth=depth,
            cache=cache,
            progress=progress,
        )
        _emit(_render(_brief(report, format), format, values), values)
        for warning in report.warnings:
            _say(f"warning: {warning}")
        found = report.diff
        if found is not None and not found.same:
            _say(
                f"error: {found.a} and {found.b} differ: {len(found.only_in_a)} only in A, {len(found.only_in_b)} "
                f"only in B, {sum(1 for c in found.changed if c.a[0] != c.b[0] or found.strict_dtype)} changed"
            )
            return 1
        return 0
    elif args.command == "check":
        model = values.get("model")
        if model is not None and names_code(model):
            _import_path()
        report = paramcount.check(
            target,
            model=model,
            architecture=architecture,
            device=device,
            limits=limits,
            depth=depth,
            file=file,
            cache=cache,
            progress=progress,
        )
        _emit(_render(_brief(report, format), format, values), values)
        for warning in report.warnings:
            _say(f"warning: {warning}")
        load = report.load
        if load is not None and not load.loads:
            problems = len(load.missing_keys) + len(load.unexpected_keys) + len(load.mismatched_keys)
            _say(
                f"error: {report.target}: does not load into {load.model}: {len(load.missing_keys)} missing, "
                f"{len(load.unexpected_keys)} unexpected, {len(load.mismatched_keys)} mismatched"
            )
            return 1 if problems else 0
        return 0
    elif args.command == "memory":
        report = paramcount.memory(target, **_memory_options(values), **options)
        if format in ("table", "markdown"):  # the estimate and its summary; json, csv and html carry everything
            moe = report.conventions is not None and report.conventions.experts is not None
            brief = report.replace(
                modules=(), roles=(), tied=(), variants=(), records=(), by_dtype=(),
                conventions=report.conventions if moe else None,  # active parameters per token
            )  # fmt: skip
            _emit(_render(brief, format, values), values)
        else:
            _emit(_render(report, format, values), values)
    else:
        try:
            report = paramcount.verify(target, expected, tolerance=values.get("tolerance"), **options)
        except VerificationError as e:  # what was compared goes to stdout, the error line to stderr
            if e.report is not None:
                _emit(_verified(e.report, format, values), values)
            raise
        _emit(_verified(report, format, values), values)
        if format == "table":
            from paramcount.numbers import exact

            checked = ", ".join(f"{name} {value}" for name, value in expected.items())
            total = report.parameters.total
            shown = "unknown" if total is None else exact(total)
            _write(f"ok: {report.target}: {shown} parameters (expected {checked})\n")
    for warning in report.warnings:
        _say(f"warning: {warning}")
    return 0


def _brief(report: Report, format: str) -> Report:
    """What check and diff print in table and markdown: the answer and the figures, without the module tree and
    the per-role and per-dtype tables (json, csv and html carry everything)."""
    if format not in ("table", "markdown"):
        return report
    return report.replace(modules=(), roles=(), tied=(), variants=(), by_dtype=(), conventions=None)


def _verified(report: Report, format: str, values: dict[str, str]) -> str:
    """What verify prints on stdout: the comparison table, or the whole document with its verification block."""
    if format != "table":
        return _render(report, format, values)
    from paramcount.render import table
    from paramcount.render._layout import verification
    from paramcount.render._text import fitter

    fit = fitter(None if "output" in values else getattr(sys.stdout, "encoding", None))
    return "\n".join(table.section_lines(verification(report), fit=fit)) + "\n"


def _render(report: Report, format: str, values: dict[str, str] | None = None) -> str:
    from paramcount.render import render

    if format not in _DOCUMENTS:
        report = report.replace(warnings=())  # on stderr instead
    values = values or {}
    if format == "table":
        expand, tensors, width = "expand" in values, "tensors" in values, _width(values)
        if _colour(values):
            from paramcount.render import color

            if color.available():
                return color.render(report, expand=expand, tensors=tensors, width=width)
        from paramcount.render.table import render as table

        encoding = None if "output" in values else getattr(sys.stdout, "encoding", None)
        return table(report, expand=expand, tensors=tensors, width=width, encoding=encoding)
    return render(report, format, expand="expand" in values, tensors="tensors" in values)


def _memory_options(values: dict[str, str]) -> dict[str, Any]:
    """``paramcount.memory``'s own keyword arguments from the command line's values."""
    chosen: dict[str, Any] = {
        name: values[name]
        for name in ("mode", "dtype", "kv_dtype", "optimizer", "precision", "strategy", "convention", "activations")
        if name in values
    }
    for name in ("batch", "gpus"):
        number = _positive(values.get(name), f"--{name}", "memory")
        if number is not None:
            chosen[name] = number
    if "seq" in values:
        chosen["seq"] = values["seq"]  # 8k, 8192: read by the library (footprint.plan.tokens), as a Python caller's
    if "gpu_memory" in values:
        chosen["gpu_memory"] = values["gpu_memory"]
    return chosen


_DIGITS = 18  # the most digits a whole-number option takes (checked before it is parsed): more than any use needs


def _digits(text: str) -> bool:
    """Whether ``text`` is a whole number of at most ``_DIGITS`` ASCII digits."""
    return 0 < len(text) <= _DIGITS and text.isascii() and text.isdigit()


def _positive(text: str | None, option: str, command: str) -> int | None:
    if text is None:
        return None
    if not _digits(text) or int(text) < 1:
        raise _usage(f"{option} must be a whole number >= 1, not {quote(text, 60)}", command)
    return int(text)


def _colour(values: dict[str, str]) -> bool:
    """Colours on a terminal: ``FORCE_COLOR`` forces them, ``NO_COLOR`` turns them off (https://no-color.org)."""
    if "output" in values:
        return False
    if os.environ.get("FORCE_COLOR", "").strip() not in ("", "0"):
        return True
    if os.environ.get("NO_COLOR", ""):
        return False
    return sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"


def _width(values: dict[str, str]) -> int | None:
    """The width to fit the table to: ``COLUMNS``, else the terminal's when stdout is one; none for a file."""
    if "output" in values:
        return None
    text = os.environ.get("COLUMNS", "").strip()
    if _digits(text) and int(text) > 0:
        return max(int(text), 40)
    if sys.stdout.isatty():
        try:
            return max(os.get_terminal_size(sys.stdout.fileno()).columns, 40)
        except OSError:
            return None
    return None


def _writable(path: str) -> None:
    """Refuse an ``--output`` path that cannot be written (a folder, a folder that does not exist or is read-only)
    before the answer is computed; the write itself still reports what this cannot foresee."""
    shown = quote(path, 200)
    try:
        if not path:
            problem = "is empty"
        elif os.path.isdir(path):
            problem = "is a folder"
        elif not os.path.isdir(os.path.dirname(path) or "."):
            problem = "is in a folder that does not exist"
        elif not os.access(path if os.path.exists(path) else os.path.dirname(path) or ".", os.W_OK):
            problem = "is not writable"
        else:
            return
    except ValueError:  # an embedded NUL
        problem = "is not a valid path"
    raise UsageError(f"cannot write --output {shown}: it {problem}", fix="name a writable file")


def _not_read(path: str, targets: list[str]) -> None:
    """Refuse an ``--output`` that is a file being read: the target itself, or a file inside a target folder (the
    answer would overwrite the checkpoint it describes)."""
    if not os.path.isfile(path):
        return
    real = os.path.realpath(path)
    for target in targets:
        if not target or not os.path.exists(target):
            continue
        folder = os.path.realpath(target) if os.path.isdir(target) else None
        try:
            same = os.path.samefile(path, target)
        except OSError:
            same = False
        if same or (folder is not None and real.startswith(folder.rstrip(os.sep) + os.sep)):
            where = "the target" if same else "a file inside the folder"
            raise UsageError(
                f"will not write --output {quote(path, 200)}: it is {where} being read", fix="name a file elsewhere"
            )


def _emit(text: str, values: dict[str, str]) -> None:
    """The answer on stdout, or in the ``--output`` file."""
    path = values.get("output")
    if path is None:
        _write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        shown = quote(path, 200)
        raise UsageError(f"cannot write --output {shown} ({e.strerror})", fix="name a writable file") from None


def _import_path() -> None:
    """Put the current folder first on the import path, as ``python -m`` does, so that ``mymodel:Net()`` imports
    ``mymodel.py`` from where the command runs (a console script's path starts with its own folder instead)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _say(line: str) -> None:
    """One line on stderr: names from files in it escaped, and in a form the stream's encoding takes. A reader that
    went away (``2>&1 | head``) is not an error of the count's."""
    try:
        sys.stderr.write(encodable(f"{_PROG}: {printable(line)}\n", getattr(sys.stderr, "encoding", None)))
        sys.stderr.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stderr.fileno())


def _write(text: str) -> None:
    """Text on stdout, with ASCII stand-ins where its encoding cannot take the table's characters."""
    try:
        sys.stdout.write(encodable(text, getattr(sys.stdout, "encoding", None)))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`paramcount count ... | head`): not an error of ours. Keep Python's own flush at
        # exit from raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError as e:  # a full disk (`> /dev/full`), a closed descriptor: the answer was not written
        try:  # noqa: SIM105 (contextlib is an import a count does not need)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor is it at exit
        except OSError:
            pass
        raise UsageError(
            f"cannot write the answer to standard output ({e.strerror or e})", fix="write it with --output FILE"
        ) from None


class _Quiet:
    """Keep libraries' chatter (torch, torchao, transformers log lines and Python warnings) off the terminal while
    a model is built and counted; put the process back as it was afterwards.

    A model built from a TARGET imports whatever the user's code imports; their WARNING-level lines ("Failed to
    load ... .so", "If you want to use BertForMaskedLM make sure config.is_decoder=False") and deprecation warnings
    are not the answer the user asked for. Errors still show. Only the command line does this; the Python API
    leaves logging and warnings alone. ``PARAMCOUNT_DEBUG=1`` shows everything.
    """

    _LOGGERS = ("torch", "torchao", "transformers", "bitsandbytes")
    # transformers sets its own logger's level from this variable when it is first imported.
    _VARIABLE = "TRANSFORMERS_VERBOSITY"

    def __enter__(self) -> None:
        import contextlib
        import logging
        import warnings

        self.variable = os.environ.get(self._VARIABLE)
        os.environ.setdefault(self._VARIABLE, "error")
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("ignore")
        with contextlib.suppress(ImportError):
            import torch  # noqa: F401 -- torch configures its loggers on import; set their levels after that
        self.levels = {name: logging.getLogger(name).level for name in self._LOGGERS}
        for name in self._LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        root = logging.getLogger()
        self.handler: logging.Handler | None = None
        if not root.handlers:  # Python's last-resort handler prints WARNING and up: only errors get through
            self.handler = logging.StreamHandler()
            self.handler.setLevel(logging.ERROR)
            root.addHandler(self.handler)

    def __exit__(self, *exc_info: object) -> None:
        import logging

        if self.variable is None:
            os.environ.pop(self._VARIABLE, None)
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
        self.warnings.__exit__(None, None, None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: arguments without the program name; ``None`` reads ``sys.argv``.
    """
    try:
        with collection_paused():  # what a run imports and builds lives until it returns
            return _run(sys.argv[1:] if argv is None else argv)
    except _HelpShown:
        return 0
    except ParamcountError as e:
        if os.environ.get("PARAMCOUNT_DEBUG") == "1":
            raise
        if isinstance(e, UsageError) and e.option is not None:
            e = e.naming(_flag(e.option))  # the library names the keyword (gpu_memory); the command line, the flag
        _say(f"error: {e}")
        return e.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as e:  # the error boundary: a bug, or a library's own error, in one line
        if os.environ.get("PARAMCOUNT_DEBUG") == "1":
            raise
        _say(
            f"error: an unexpected {type(e).__name__} ({quote(str(e), 200)[1:-1]}); this is a bug in paramcount or in "
            "a library it called: rerun with PARAMCOUNT_DEBUG=1 for the traceback and report it"
        )
        return 3
    except MemoryError:
        if os.environ.get("PARAMCOUNT_DEBUG") == "1":
            raise
        # Every file-borne allocation is bounded by a limit; what is left is a machine with less memory than a
        # limit allows, or a live model too large to build.
        _say(
            "error: ran out of memory; lower the limits (--limit pickle-bytes=64MiB, --limit header-bytes=...), "
            "or count a live model on the meta device"
        )
        return 3


def _flag(option: str) -> str:
    """The flag of a library keyword: ``gpu_memory`` -> ``--gpu-memory``."""
    return "--" + option.replace("_", "-")


def command() -> int:
    """The ``paramcount`` command and ``python -m paramcount``: :func:`main` in a process that exits after it.

    Before the process exits, the objects it holds are moved out of the collector's reach (``gc.freeze``): the
    interpreter's teardown frees them by reference counting anyway, and its final full collection, which
    traversed them all for nothing, was a tenth of a count of a checkpoint's headers (benchmarks/bench_files.py).
    """
    import gc

    code = main()
    gc.freeze()
    return code
