"""The ``dump`` source: Ergast CSV files (camelCase headers, quoted strings, ``\\N`` nulls) in a folder or .zip."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from p3_common.ergast import TABLES, snake_case

from .calendar import calendar_of
from .errors import SourceError
from .schema import arrow_schema, conform
from .timing import NULL_TOKENS

SOURCE = "dump"
# The checksum list a dump may ship beside its files (`sha256sum *.csv > SHA256SUMS`).
CHECKSUM_FILE = "SHA256SUMS"


class DumpSource:
    """Reads the Ergast CSV layout: one ``<table>.csv`` per table at the top level of a folder or zip.

    Only top-level files are read (a zip may wrap them in one folder); sub-folders such as
    ``extra/`` are ignored. Each file is parsed once per source instance and split by season through
    ``races.csv``, because Ergast's race-scoped tables carry a ``raceId`` but no year.
    When the dump ships a ``SHA256SUMS`` file, every file it lists is verified as it is read.
    """

    name = SOURCE

    def __init__(self, location: Path) -> None:
        self.location = Path(location)
        if not self.location.exists():
            raise SourceError(SOURCE, "*", f"Ergast dump not found at {self.location}")
        self._tables: dict[str, pa.Table] = {}
        self._season_races: dict[int, pa.Array] | None = None
        self._checksums: dict[str, str] | None = None

    def seasons(self) -> list[int]:
        """Seasons that have at least one race in ``races.csv``."""
        return sorted(self._races_by_season())

    def columns_not_provided(self, table: str) -> tuple[str, ...]:
        """The dump carries every contract column."""
        return ()

    def reference_table(self, table: str) -> pa.Table:
        """The whole file of an unpartitioned table, conformed to the contract."""
        if TABLES[table].season_scoped:
            raise ValueError(f"{table!r} is season-scoped; use season_table()")
        return self._read(table)

    def season_table(self, table: str, season: int) -> pa.Table:
        """The rows of a race-scoped table whose race belongs to ``season``."""
        if not TABLES[table].season_scoped:
            raise ValueError(f"{table!r} is a reference table; use reference_table()")
        data = self._read(table)
        if table == "races":
            return data.filter(pc.equal(data["year"], season))
        race_ids = self._races_by_season().get(season, pa.array([], pa.int32()))
        return data.filter(pc.is_in(data["race_id"], value_set=race_ids))

    def calendar(self, season: int) -> list[tuple[int, date]]:
        """(round, date) of the season's races, from ``races.csv``."""
        return calendar_of(self.season_table("races", season))

    # -- internals ---------------------------------------------------------------------------

    def _races_by_season(self) -> dict[int, pa.Array]:
        if self._season_races is None:
            races = self._read("races")
            grouped = races.group_by("year").aggregate([("race_id", "list")])
            self._season_races = {
                year: pa.array(ids, pa.int32())
                for year, ids in zip(
                    grouped["year"].to_pylist(), grouped["race_id_list"].to_pylist(), strict=True
                )
            }
        return self._season_races

    def _read(self, table: str) -> pa.Table:
        if table not in self._tables:
            data = self._parse(table)
            if TABLES[table].season_scoped and table != "races":
                self._check_races_exist(table, data)
            self._tables[table] = data
        return self._tables[table]

    def _check_races_exist(self, table: str, data: pa.Table) -> None:
        # A row whose race is not in races.csv would belong to no season and vanish silently.
        known = self._read("races")["race_id"]
        orphans = pc.invert(pc.is_in(data["race_id"], value_set=known.combine_chunks()))
        if pc.any(orphans).as_py():
            index = pc.index(orphans, True).as_py()
            raise SourceError(
                SOURCE,
                table,
                f"race_id {data['race_id'][index].as_py()} does not exist in races.csv",
                where=self._describe(table),
                row=index + 2,
                column="race_id",
            )

    def _parse(self, table: str) -> pa.Table:
        raw = self._file_bytes(table)
        where = self._describe(table)
        header = _header(raw, table, where)
        names = [snake_case(n) for n in header]
        schema = arrow_schema(table)
        typed = {
            original: schema.field(name).type
            for original, name in zip(header, names, strict=True)
            if name in schema.names
        }

        def read(column_types: dict[str, pa.DataType] | None) -> pa.Table:
            convert = pacsv.ConvertOptions(
                null_values=sorted(NULL_TOKENS),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                column_types=column_types or {name: pa.string() for name in header},
            )
            return pacsv.read_csv(pa.BufferReader(raw), convert_options=convert)

        try:
            data = read(typed)
        except pa.ArrowInvalid:
            # Slow path, only on bad input: read as text so conform() can name the row and column.
            try:
                data = read(None)
            except pa.ArrowInvalid as exc:
                raise SourceError(SOURCE, table, f"malformed CSV: {exc}", where=where) from exc
        data = data.rename_columns(names)
        # CSV line of a row = data row index + 2 (the header is line 1).
        return conform(data, table, source=SOURCE, where=where, row_number=lambda i: i + 2)

    def _file_bytes(self, table: str) -> bytes:
        data = self._member_bytes(table, f"{table}.csv")
        if data is None:
            raise SourceError(
                SOURCE, table, f"file {table}.csv is missing", where=self._describe(table)
            )
        self._verify_checksum(table, data)
        return data

    def _verify_checksum(self, table: str, data: bytes) -> None:
        if self._checksums is None:
            listing = self._member_bytes(table, CHECKSUM_FILE)
            self._checksums = {} if listing is None else _parse_checksums(listing)
        expected = self._checksums.get(f"{table}.csv")
        if expected is None:
            return
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise SourceError(
                SOURCE,
                table,
                f"{table}.csv differs from the dump's {CHECKSUM_FILE} (sha256 {actual[:12]}..., "
                f"listed {expected[:12]}...): the file is corrupt or was changed after the dump "
                "was made",
                where=self._describe(table),
            )

    def _member_bytes(self, table: str, filename: str) -> bytes | None:
        """A top-level file of the folder or zip, or None when it is absent."""
        if self.location.is_dir():
            path = self.location / filename
            return path.read_bytes() if path.is_file() else None
        try:
            with zipfile.ZipFile(self.location) as archive:
                member = _zip_member(archive, filename)
                return None if member is None else archive.read(member)
        except zipfile.BadZipFile as exc:
            raise SourceError(
                SOURCE, table, f"not a zip file: {exc}", where=str(self.location)
            ) from exc

    def _describe(self, table: str) -> str:
        if self.location.is_dir():
            return str(self.location / f"{table}.csv")
        return f"{self.location}!{table}.csv"


def _parse_checksums(listing: bytes) -> dict[str, str]:
    # `sha256sum` lines: "<hex>  <name>" (text mode) or "<hex> *<name>" (binary mode).
    checksums = {}
    for line in listing.decode("utf-8", errors="replace").splitlines():
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) == 64 and name and "/" not in name:
            checksums[name] = digest.lower()
    return checksums


def _zip_member(archive: zipfile.ZipFile, filename: str) -> str | None:
    # Accept files at the zip's root or inside one wrapping folder, never deeper.
    for name in archive.namelist():
        parts = name.split("/")
        if parts[-1] == filename and len(parts) <= 2:
            return name
    return None


def _header(raw: bytes, table: str, where: str) -> list[str]:
    first_line = raw.split(b"\n", 1)[0].rstrip(b"\r")
    if not first_line.strip():
        raise SourceError(SOURCE, table, "file is empty (no header row)", where=where)
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(SOURCE, table, f"header is not UTF-8: {exc}", where=where) from exc
    return [name.strip() for name in next(csv.reader(io.StringIO(text)))]
