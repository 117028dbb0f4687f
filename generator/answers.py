"""Answers given on the command line, parsed strictly against copier.yml before anything is written.

Copier reads any unknown string as ``true`` for a bool question (``with_dask=flase`` turns Dask
on) and lists its hidden derived values among the questions; this module refuses such answers
with a sentence that names the question and the fix. It also collects the answers of an
interactive session from copier's own prompts (``pretend``: nothing is written), so the CLI can
ask everything first and only then show progress.

Functions take the questions of copier.yml (name -> settings) as an argument, so this module
does not care where they are read from.
"""

from __future__ import annotations

import difflib
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from generator.errors import GeneratorError

Questions = Mapping[str, Mapping[str, Any]]

TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})
BOOL_SPELLINGS = "true/false, yes/no or 1/0 (any case)"


def asked_questions(questions: Questions) -> dict[str, Mapping[str, Any]]:
    """The questions a user can answer: those not hidden with ``when: false`` (derived values)."""
    return {name: q for name, q in questions.items() if q.get("when") is not False}


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings as a mapping (later ones win, like copier's ``--data``)."""
    answers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise GeneratorError(
                f"--data {pair!r} is not NAME=VALUE", hint="write it like --data project_name='My Model'"
            )
        answers[name.strip()] = value
    return answers


def read_data_file(path: Path) -> dict[str, Any]:
    """The answers of a YAML ``--data-file``.

    Keys starting with ``_`` (the metadata of a ``.copier-answers.yml``, such as ``_commit``) are
    left out, so an answers file can be fed back as a data file.
    """
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GeneratorError(f"cannot read --data-file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise GeneratorError(f"--data-file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GeneratorError(
            f"--data-file {path} must hold a mapping of question: answer, not {type(data).__name__}",
            hint="write one `name: value` a line, e.g. `with_dask: true`",
        )
    return {str(key): value for key, value in data.items() if not str(key).startswith("_")}


def _choice_values(question: Mapping[str, Any]) -> list[Any]:
    choices = question["choices"]
    return list(choices.values() if isinstance(choices, dict) else choices)


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    by_lower = {str(c).lower(): str(c) for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def _parse_bool(name: str, value: Any, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    # A YAML data file may carry 0/1 as integers.
    word = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise GeneratorError(
        f"{name} must be true or false, got {value!r} ({origin})", hint=f"write {BOOL_SPELLINGS}"
    )


def _parse_one(name: str, question: Mapping[str, Any], value: Any, origin: str) -> Any:
    kind = question.get("type", "str")
    if kind == "bool":
        return _parse_bool(name, value, origin)
    if isinstance(value, (dict, list)) and kind != "yaml":
        raise GeneratorError(f"{name} takes one value, got {value!r} ({origin})")
    if kind in ("int", "float"):
        try:
            value = int(value) if kind == "int" else float(value)
        except (TypeError, ValueError) as exc:
            raise GeneratorError(f"{name} must be a number ({kind}), got {value!r} ({origin})") from exc
    elif kind == "str" and not isinstance(value, str):
        # YAML reads `python_version: 3.12` as a number; the question wants its text.
        value = str(value)
    if "choices" in question:
        values = _choice_values(question)
        if value not in values:
            close = _closest(str(value), (str(v) for v in values))
            listed = ", ".join(str(v) for v in values)
            suggestion = f": did you mean {close}?" if close else ""
            raise GeneratorError(f"{name} must be one of {listed}; got {value!r} ({origin}){suggestion}")
    return value


def _unknown(name: str, asked: Mapping[str, Any], origin: str) -> GeneratorError:
    close = _closest(name, asked)
    suggestion = f": did you mean {close}?" if close else ""
    return GeneratorError(
        f"unknown question {name!r} ({origin}){suggestion}", hint=f"questions are: {', '.join(asked)}"
    )


def validate(answers: Mapping[str, Any], questions: Questions, *, origin: str = "--data") -> dict[str, Any]:
    """Check and convert answers by the questions of copier.yml.

    Args:
        answers: Values by question name, as given (strings from ``--data``, YAML from a file).
        questions: The questions of copier.yml, hidden ones included (they are refused).
        origin: Where the answers came from, named in messages (``--data``, ``--data-file x.yml``).

    Returns:
        The answers with booleans as ``bool`` and numbers of ``str`` questions as text.

    Raises:
        GeneratorError: An unknown (or hidden, derived) question, a boolean spelt otherwise than
            true/false/yes/no/1/0, or a value outside a question's choices. Every problem is
            listed, one a line.
    """
    asked = asked_questions(questions)
    parsed: dict[str, Any] = {}
    problems: list[GeneratorError] = []
    for name, value in answers.items():
        if name not in asked:
            problems.append(_unknown(name, asked, origin))
            continue
        try:
            parsed[name] = _parse_one(name, asked[name], value, origin)
        except GeneratorError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        hints = dict.fromkeys(p.hint for p in problems if p.hint)  # each hint once, in order
        raise GeneratorError(
            f"{len(problems)} answers refused:\n  " + "\n  ".join(p.message for p in problems),
            hint="; ".join(hints) or None,
        )
    return parsed


def collect(
    pairs: Iterable[str] = (), data_file: Path | None = None, *, questions: Questions
) -> dict[str, Any]:
    """The answers of ``--data-file`` overlaid with ``--data`` pairs, each validated strictly."""
    answers: dict[str, Any] = {}
    if data_file is not None:
        answers |= validate(read_data_file(data_file), questions, origin=f"--data-file {data_file}")
    answers |= validate(parse_pairs(pairs), questions, origin="--data")
    return answers


def ask(template: str, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Ask copier's questions not in ``answers`` on the terminal and return every answer given.

    Copier runs with ``pretend`` (nothing is written) so the questions are asked before any
    progress is drawn; the render that follows takes these answers with no prompt.

    Raises:
        GeneratorError: An answer failed copier's validator, or the session was interrupted.
    """
    import copier
    import copier.errors

    with tempfile.TemporaryDirectory(prefix="dsdeploy-ask-") as tmp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
                worker = copier.run_copy(
                    template,
                    Path(tmp) / "project",
                    data=dict(answers),
                    pretend=True,
                    quiet=True,
                    unsafe=False,
                    vcs_ref="HEAD",
                )
        except copier.errors.CopierAnswersInterrupt as exc:
            raise GeneratorError("interrupted: nothing was written") from exc
        except ValueError as exc:  # a failed validator of an answer given with --data
            message = str(exc).removeprefix("Validation error for question ")
            raise GeneratorError(f"invalid answer {message}") from exc
        except copier.errors.CopierError as exc:
            raise GeneratorError(f"asking the questions of {template} failed: {exc}") from exc
    hidden = worker.answers.hidden
    return {name: value for name, value in worker.answers.user.items() if name not in hidden}
