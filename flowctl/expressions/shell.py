"""`run:` commands: every `{{ }}` value reaches the shell as an environment variable."""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Mapping
from typing import Any

from msgspec import Struct, field

from flowctl.errors import ExpressionError
from flowctl.expressions.engine import compile_template
from flowctl.expressions.runtime import ShellCapture

ENV_PREFIX = "FLOWCTL_T"
MAX_ENV_BYTES = 128 * 1024  # Linux MAX_ARG_STRLEN: the longest single "NAME=value" string
_INTEGER = re.compile(r"\A[-+]?(?:0|[1-9][0-9]*)\Z")
# Compiled once: the nonce is checked per match, so no regex is compiled per command.
_TOKEN = re.compile(r"@@FLOWCTL_(\d{12})_(\d+)@@", re.IGNORECASE)
_WORD_BREAK = frozenset(" \t\n;&|()<>")
_DELIMITER_END = frozenset(" \t\n;&|()<>")


class ShellScript(Struct, frozen=True):
    """A rendered `run:` command and the variables that carry its `{{ }}` values."""

    script: str
    env: dict[str, str]


def render_shell(source: str, names: Mapping[str, Any]) -> ShellScript:
    """Render a `run:` command so that every `{{ }}` value is passed as data.

    The template is rendered with each `{{ }}` output replaced by a unique token; a small
    shell-quoting state machine then replaces each token with a reference to an
    environment variable, quoted for the place it stands in:

        unquoted, $( ), ` `     ->  "${FLOWCTL_T3}"
        inside "..."            ->  ${FLOWCTL_T3}
        inside '...'            ->  '"${FLOWCTL_T3}"'
        inside $'...'           ->  '"${FLOWCTL_T3}"$'
        here-document body      ->  ${FLOWCTL_T3}
        inside $(( )) or (( ))  ->  ${FLOWCTL_T3}, and the value must be an integer

    Every replacement is made of quotes, `$`, braces and a fixed name only, so even where
    the machine misjudged a context a value could at worst be word-split, never run.
    Bash still evaluates a variable's text as arithmetic in `[[ x -eq y ]]`, `let` and
    array subscripts: do not use untrusted values there.

    `{{ value | raw }}` pastes the text instead, for trusted values only. Raises
    ExpressionError when a value cannot be passed safely (a NUL byte, a value after a
    backslash or in a quoted here-document, a non-integer in arithmetic, a value too big
    for one environment variable).
    """
    capture = ShellCapture(nonce=f"{secrets.randbelow(10**12):012d}")
    text = compile_template(source).render_captured(names, capture)
    try:
        return _Quoter(text, capture).run()
    except _Refused as exc:
        raise ExpressionError(source, str(exc)) from None


_OUTPUT_BLOCK = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def static_refusal(source: str) -> str | None:
    """Why a `run:` template is refused whatever its values (a value right after a
    backslash, inside a quoted here-document, or as a here-document delimiter), for
    validate; None when only values could make it fail. Templates with `{% %}` are not
    judged (their output depends on data)."""
    if "{%" in source or "{#" in source:
        return None
    capture = ShellCapture(nonce="0" * 12)
    text = _OUTPUT_BLOCK.sub(lambda _: capture.token("0"), source)
    try:
        _Quoter(text, capture).run()
    except _Refused as exc:
        return str(exc)
    return None


class _Refused(Exception):
    """The command cannot carry a value safely; the message says why."""


class _Kind(enum.Enum):
    TOP = "top"
    SUBSHELL = "$( )"
    BACKTICK = "` `"
    ARITH = "$(( ))"
    ARITH_BRACKET = "$[ ]"
    SUBSCRIPT = "a[ ]"
    PARAM = "${ }"
    DOUBLE = '"'
    SINGLE = "'"
    ANSI = "$'"
    COMMENT = "#"
    HEREDOC = "<<"


_CODE = frozenset(
    {_Kind.TOP, _Kind.SUBSHELL, _Kind.BACKTICK, _Kind.ARITH, _Kind.ARITH_BRACKET, _Kind.SUBSCRIPT}
)
# Where commands are parsed (as opposed to arithmetic expressions).
_COMMANDS = frozenset({_Kind.TOP, _Kind.SUBSHELL, _Kind.BACKTICK})
# Where bash evaluates text as arithmetic: `a[$(cmd)]` in a value there runs cmd.
_ARITHMETIC = frozenset({_Kind.ARITH, _Kind.ARITH_BRACKET, _Kind.SUBSCRIPT})
_QUOTES = frozenset({_Kind.DOUBLE, _Kind.SINGLE, _Kind.ANSI})

# Words after which the next word is still a command name.
_KEYWORDS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMAND_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\[\[(?=[ \t\n])|!(?=[ \t])|\{(?=[ \t\n])")
_SUBSCRIPTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+?=")
# `declare -i`, `typeset -ri`, `local -i` (options come before the names).
_DECLARE = re.compile(r"(?:declare|typeset|local|readonly|export)((?:[ \t]+[-+][A-Za-z]+)*)")
_INTEGER_DECLARATION = re.compile(
    r"(?<![\w-])(?:declare|typeset|local|readonly|export)((?:[ \t]+[-+][A-Za-z]+)*)"
    r"((?:[ \t]+[A-Za-z_][^ \t\n;&|]*)*)"
)
# `[[ x -eq y ]]`: bash evaluates both operands as arithmetic, quoted or not.
_ARITH_OPERATOR = re.compile(r"-(?:eq|ne|lt|le|gt|ge)(?=[ \t\n])")
_WORD_THEN_OPERATOR = re.compile(
    r"(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|\\.|[^\s\"'\\])+[ \t]+-(?:eq|ne|lt|le|gt|ge)(?=[ \t\n])"
)
_DBRACKET_END = re.compile(r"\]\](?=[ \t\n;&|)]|\Z)")


def _has_integer_flag(options: str) -> bool:
    return any(o.startswith("-") and "i" in o for o in options.split())


def _integer_names(text: str) -> frozenset[str]:
    """Names the script declares integer: assigning to them later is arithmetic too."""
    names: set[str] = set()
    for match in _INTEGER_DECLARATION.finditer(text):
        if _has_integer_flag(match.group(1)):
            for word in match.group(2).split():
                name = _NAME.match(word)
                if name:
                    names.add(name.group())
    return frozenset(names)


class _Heredoc(Struct, frozen=True):
    delimiter: str
    strip_tabs: bool
    expands: bool  # an unquoted delimiter: $ expansions happen in the body


class _Frame(Struct):
    kind: _Kind
    depth: int = 0  # open parentheses inside this frame
    brackets: int = 0  # open [ inside a $[ ] or a[ ] frame
    heredoc: _Heredoc | None = None
    # ${ }: "op" right after the name, "arith" in an offset/length, "word" otherwise.
    phase: str = "op"
    # Command frames: where a command name may come, and the arithmetic contexts of
    # the current command (`let`, `declare -i`, `[[ x -eq y ]]` operands).
    at_command: bool = True
    arith_command: bool = False
    arith_word: bool = False
    arith_next: bool = False
    dbracket: bool = False


class _Quoter(Struct):
    """One pass over the rendered text; `run` returns the script and its variables."""

    text: str
    capture: ShellCapture
    out: list[str] = field(default_factory=list)
    stack: list[_Frame] = field(default_factory=lambda: [_Frame(_Kind.TOP)])
    pending: list[_Heredoc] = field(default_factory=list)
    used: set[int] = field(default_factory=set)
    tokens: dict[int, re.Match[str]] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)
    integer_names: frozenset[str] = frozenset()

    def run(self) -> ShellScript:
        nonce = self.capture.nonce
        for text in self.capture.texts:
            # A value built from other outputs (a macro, a {% set %} block) holds their
            # tokens: as data, it holds their text.
            self.values.append(_TOKEN.sub(self._expanded, text) if "@@" in text else text)
        self.tokens = {m.start(): m for m in _TOKEN.finditer(self.text) if m.group(1) == nonce}
        self.integer_names = _integer_names(self.text)
        i = 0
        while i < len(self.text):
            i = self._step(i)
        script = "".join(self.out)
        if "\0" in script:
            raise _Refused("the command contains a NUL byte")
        return ShellScript(script, {self._name(n): self._checked(n) for n in sorted(self.used)})

    def _expanded(self, match: re.Match[str]) -> str:
        if match.group(1) != self.capture.nonce:
            return match.group(0)
        n = int(match.group(2))
        return self.values[n] if n < len(self.values) else match.group(0)

    @staticmethod
    def _name(n: int) -> str:
        return f"{ENV_PREFIX}{n}"

    def _checked(self, n: int) -> str:
        value = self.values[n]
        if "\0" in value:
            raise _Refused(f"value {n + 1} contains a NUL byte, which a shell cannot receive")
        size = len(self._name(n)) + 2 + len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_ENV_BYTES:
            raise _Refused(
                f"value {n + 1} is {size:,} bytes; one environment variable holds at most"
                f" {MAX_ENV_BYTES // 1024} KiB: write big data to a file and pass its path"
            )
        return value

    # --- the state machine -------------------------------------------------------------

    def _step(self, i: int) -> int:
        """Handle the text at i; returns where to go on."""
        frame = self.stack[-1]
        if frame.kind is _Kind.HEREDOC:
            return self._heredoc(i, frame)
        token = self.tokens.get(i)
        if token is not None:
            if frame.kind in _COMMANDS:
                self._track_command(i, frame)  # a value can be a whole word: `[[ {{ n }} -eq`
            self.out.append(self._replacement(int(token.group(2))))
            return token.end()
        if frame.kind in _CODE:
            return self._code(i, frame)
        if frame.kind is _Kind.PARAM:
            return self._param(i, frame)
        c = self.text[i]
        if frame.kind is _Kind.SINGLE:
            if c == "'":
                self.stack.pop()
        elif frame.kind is _Kind.ANSI:
            if c == "\\":
                return self._escape(i)
            if c == "'":
                self.stack.pop()
        elif frame.kind is _Kind.DOUBLE:
            if c == "\\":
                if self.text[i + 1 : i + 2] in ("$", "`", '"', "\\", "\n"):
                    return self._escape(i)
                self._no_token_after(i)
            elif c == '"':
                self.stack.pop()
            elif self._opens_substitution(i):
                return self._substitution(i)
        elif frame.kind is _Kind.COMMENT and c == "\n":
            self.stack.pop()
            return i  # the newline belongs to the code around the comment
        self.out.append(c)
        return i + 1

    def _code(self, i: int, frame: _Frame) -> int:
        text, c = self.text, self.text[i]
        if frame.kind in _COMMANDS:
            self._track_command(i, frame)
        if c == "\\":
            return self._escape(i)
        if c == "'" or c == '"':
            self._push(_Kind.SINGLE if c == "'" else _Kind.DOUBLE)
            if self._word_start(i) and _SUBSCRIPTED.match(text, i + 1):
                # unset 'a[…]', printf -v "a[…]": the subscript is still arithmetic.
                return self._subscript(i + 1, self._emit(i, 1))
        elif text.startswith("$'", i):
            self._push(_Kind.ANSI)
            return self._emit(i, 2)
        elif self._opens_substitution(i):
            return self._substitution(i)
        elif c == "`":
            if frame.kind is _Kind.BACKTICK:
                self.stack.pop()
            else:
                self._push(_Kind.BACKTICK)
        elif c == "(":
            # `((` opens arithmetic wherever it stands: `for((`, `if((`, `&& ((`.
            if frame.kind not in _ARITHMETIC and text.startswith("((", i):
                self._push(_Kind.ARITH)
                return self._emit(i, 2)
            frame.depth += 1
        elif c == ")":
            if frame.depth:
                frame.depth -= 1
            elif frame.kind is _Kind.SUBSHELL:
                self.stack.pop()
            elif frame.kind is _Kind.ARITH and text.startswith("))", i):
                self.stack.pop()
                return self._emit(i, 2)
        elif c == "[" and frame.kind in (_Kind.ARITH_BRACKET, _Kind.SUBSCRIPT):
            frame.brackets += 1
        elif c == "]" and frame.kind in (_Kind.ARITH_BRACKET, _Kind.SUBSCRIPT):
            if frame.brackets:
                frame.brackets -= 1
            else:
                self.stack.pop()
        elif frame.kind in _ARITHMETIC:
            pass  # `<<` is a shift, `#` a base: neither starts anything here
        elif c == "#" and self._word_start(i):
            self._push(_Kind.COMMENT)
        elif self._word_start(i) and _SUBSCRIPTED.match(text, i):
            return self._subscript(i, i)
        elif text.startswith("<<", i) and not text.startswith("<<<", i) and not frame.dbracket:
            return self._heredoc_start(i)
        elif c == "\n" and self.pending:
            self.out.append(c)
            # Bodies follow in order: the first here-document's body comes first.
            self.stack.extend(_Frame(_Kind.HEREDOC, heredoc=h) for h in reversed(self.pending))
            self.pending.clear()
            return i + 1
        self.out.append(c)
        return i + 1

    def _subscript(self, name_at: int, i: int) -> int:
        """`name[` at name_at (i is where the output stands): the subscript is arithmetic."""
        end = _SUBSCRIPTED.match(self.text, name_at)
        assert end is not None
        self._push(_Kind.SUBSCRIPT)
        return self._emit(i, end.end() - i)

    def _track_command(self, i: int, frame: _Frame) -> None:
        """Follow the words of a command: which of them bash evaluates as arithmetic."""
        text, c = self.text, self.text[i]
        if c in " \t":
            frame.arith_word = False
            return
        if c in ";&|\n(" and not self._escaped(i):
            if not frame.dbracket:
                frame.at_command, frame.arith_command = True, False
            frame.arith_word = False
            return
        if not self._word_start(i):
            return
        if frame.dbracket:
            end = _DBRACKET_END.match(text, i)
            if end:
                frame.dbracket = frame.arith_next = False
            elif _ARITH_OPERATOR.match(text, i):
                frame.arith_next = True
            else:
                frame.arith_word = frame.arith_next or bool(_WORD_THEN_OPERATOR.match(text, i))
                frame.arith_next = False
            return
        if not frame.at_command:
            return
        word = _COMMAND_WORD.match(text, i)
        if word is None:
            frame.at_command = False
            return
        name = word.group()
        if name in _KEYWORDS:
            return
        assignment = _ASSIGNMENT.match(text, i)
        if assignment:
            # A=1 cmd: still before the command name; `declare -i A` makes it arithmetic.
            frame.arith_word = assignment.group(1) in self.integer_names
            return
        frame.at_command = False
        if name == "[[":
            frame.dbracket = True
        elif name == "let":
            frame.arith_command = True
        else:
            declare = _DECLARE.match(text, i)
            if declare and declare.end(0) >= word.end() and _has_integer_flag(declare.group(1)):
                frame.arith_command = True

    def _escaped(self, i: int) -> bool:
        slashes = 0
        while i - slashes - 1 >= 0 and self.text[i - slashes - 1] == "\\":
            slashes += 1
        return slashes % 2 == 1

    def _param(self, i: int, frame: _Frame) -> int:
        """Inside `${…}`: an offset, a length and a subscript are arithmetic."""
        text, c = self.text, self.text[i]
        if c == "}":
            self.stack.pop()
            return self._emit(i, 1)
        if frame.phase == "op":
            if c == "[":
                self._push(_Kind.SUBSCRIPT)
                return self._emit(i, 1)
            if c == ":" and text[i + 1 : i + 2] not in ("-", "=", "?", "+"):
                frame.phase = "arith"
                return self._emit(i, 1)
            frame.phase = "word"
        if c == "\\":
            return self._escape(i)
        if c == '"':
            self._push(_Kind.DOUBLE)
        elif c == "'" and not self._in_double():
            self._push(_Kind.SINGLE)
        elif self._opens_substitution(i):
            return self._substitution(i)
        self.out.append(c)
        return i + 1

    def _in_double(self) -> bool:
        for frame in reversed(self.stack):
            if frame.kind is not _Kind.PARAM:
                return frame.kind in (_Kind.DOUBLE, _Kind.HEREDOC)
        return False

    def _opens_substitution(self, i: int) -> bool:
        return self.text.startswith(("$(", "${", "$["), i) or self.text[i] == "`"

    def _substitution(self, i: int) -> int:
        text = self.text
        if text.startswith("$((", i):
            self._push(_Kind.ARITH)
            return self._emit(i, 3)
        if text.startswith("$(", i):
            self._push(_Kind.SUBSHELL)
            return self._emit(i, 2)
        if text.startswith("$[", i):
            self._push(_Kind.ARITH_BRACKET)
            return self._emit(i, 2)
        if text.startswith("${", i):
            self._push(_Kind.PARAM)
            return self._emit(i, self._param_name_end(i + 2) - i)
        self._push(_Kind.BACKTICK)
        return self._emit(i, 1)

    def _param_name_end(self, j: int) -> int:
        """Where the name of `${name…}` (with a leading # or !) ends; j is after `${`."""
        text = self.text
        if text[j : j + 1] in ("#", "!") and text[j + 1 : j + 2] not in ("}", ""):
            j += 1
        if j in self.tokens:
            return j
        name = _NAME.match(text, j)
        if name:
            return name.end()
        if text[j : j + 1].isdigit():
            while text[j : j + 1].isdigit():
                j += 1
            return j
        if text[j : j + 1] and text[j] in "@*#?$!-" and j + 1 not in self.tokens:
            return j + 1
        return j

    def _push(self, kind: _Kind) -> None:
        self.stack.append(_Frame(kind))

    def _emit(self, i: int, count: int) -> int:
        self.out.append(self.text[i : i + count])
        return i + count

    def _escape(self, i: int) -> int:
        """A backslash and the character it escapes."""
        self._no_token_after(i)
        return self._emit(i, 2)

    def _no_token_after(self, i: int) -> None:
        if i + 1 in self.tokens:
            raise _Refused("a {{ }} value right after a backslash cannot be passed safely")

    def _word_start(self, i: int) -> bool:
        return i == 0 or self.text[i - 1] in _WORD_BREAK

    def _arithmetic(self) -> str | None:
        """The arithmetic context the current position is in, if any."""
        for frame in reversed(self.stack):
            kind = frame.kind
            if kind in _ARITHMETIC:
                return kind.value
            if kind is _Kind.PARAM:
                if frame.phase == "arith":
                    return "${v:offset:length}"
                continue
            if kind in _QUOTES:
                continue
            if kind in _COMMANDS:
                if frame.arith_command:
                    return "let / declare -i"
                if frame.arith_word:
                    return "[[ … -eq … ]]" if frame.dbracket else "an integer variable"
            return None
        return None

    def _replacement(self, n: int) -> str:
        self.used.add(n)
        ref = f"${{{self._name(n)}}}"
        context = self._arithmetic()
        if context is not None:
            if not _INTEGER.match(self.values[n]):
                raise _Refused(
                    f"value {n + 1} is used in shell arithmetic ({context}) but is not an"
                    " integer: bash would run code hidden in it"
                )
            return ref
        kind = next(f.kind for f in reversed(self.stack) if f.kind is not _Kind.PARAM)
        if kind in (_Kind.DOUBLE, _Kind.COMMENT, _Kind.HEREDOC):
            return ref
        if kind is _Kind.SINGLE and self.stack[-1].kind is _Kind.SINGLE:
            return f"'\"{ref}\"'"
        if kind is _Kind.ANSI and self.stack[-1].kind is _Kind.ANSI:
            return f"'\"{ref}\"$'"
        return f'"{ref}"'

    # --- here-documents ----------------------------------------------------------------

    def _heredoc_start(self, i: int) -> int:
        """`<<WORD` or `<<-WORD`: note the here-document; its body starts on the next line."""
        text, j = self.text, i + 2
        strip_tabs = text.startswith("-", j)
        j += strip_tabs
        while j < len(text) and text[j] in " \t":
            j += 1
        start, word, quoted = j, [], False
        while j < len(text) and text[j] not in _DELIMITER_END:
            ch = text[j]
            if ch in "'\"":
                close = text.find(ch, j + 1)
                close = len(text) if close < 0 else close
                word.append(text[j + 1 : close])
                quoted, j = True, close + 1
            elif ch == "\\":
                word.append(text[j + 1 : j + 2])
                quoted, j = True, j + 2
            else:
                word.append(ch)
                j += 1
        j = min(j, len(text))
        if any(start <= t < j for t in self.tokens):
            raise _Refused("a {{ }} value cannot be a here-document delimiter")
        if j == start:
            return self._emit(i, 2)
        self.pending.append(_Heredoc("".join(word), strip_tabs, expands=not quoted))
        return self._emit(i, j - i)

    def _heredoc(self, i: int, frame: _Frame) -> int:
        """Here-document body text at i; at a line start, maybe its closing delimiter line.

        An unquoted delimiter makes the body expand as double-quoted text does: `$(…)`,
        `${…}` and `$((…))` in it are followed like anywhere else.
        """
        doc = frame.heredoc
        assert doc is not None
        text = self.text
        if i == 0 or text[i - 1] == "\n":
            newline = text.find("\n", i)
            end = len(text) if newline < 0 else newline
            line = text[i:end]
            if (line.lstrip("\t") if doc.strip_tabs else line) == doc.delimiter:
                self.stack.pop()
                return self._emit(i, end + 1 - i)
        token = self.tokens.get(i)
        if token is not None:
            if not doc.expands:
                raise _Refused(
                    "a {{ }} value inside a quoted here-document (<<'EOF') cannot be"
                    " passed as data; use an unquoted delimiter"
                )
            self.out.append(self._replacement(int(token.group(2))))
            return token.end()
        if doc.expands:
            if text[i] == "\\" and text[i + 1 : i + 2] not in ("", "\n"):
                return self._escape(i)
            if self._opens_substitution(i):
                return self._substitution(i)
        return self._emit(i, 1)
