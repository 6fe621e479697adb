"""The import pipeline: export files into the patient database, every row accounted for.

>>> source = open_source("patients.csv")                        # doctest: +SKIP
>>> import_source(PatientStore(engine), source, book.ids).summary()  # doctest: +SKIP
'120 read, 100 inserted, 15 updated, 3 unchanged, 2 quarantined'

    file -> formats.open_source -> rows.import_source -> patient database

`formats` reads a file into raw rows (JSON Lines or CSV; SourceError when the file as a whole
cannot be used); `rows` validates each row and writes it, quarantining bad rows, in chunks of
CHUNK_SIZE; `inbox` lists the files dropped in the inbox folder and moves each to processed/ or
failed/. The use cases (`netflow import`, the import DAG) are in `netflow.services.imports`.
"""

from netflow.imports.formats import IMAGING_COLUMNS, PATIENT_COLUMNS, Source, SourceError, SourceRow, open_source
from netflow.imports.inbox import inbox_files
from netflow.imports.rows import CHUNK_SIZE, ImportCounts, import_source

__all__ = ["CHUNK_SIZE", "IMAGING_COLUMNS", "ImportCounts", "PATIENT_COLUMNS", "Source", "SourceError", "SourceRow",
           "import_source", "inbox_files", "open_source"]
