"""PyInstaller hook for psycopg2, used by fibuca.spec (it replaces pyinstaller-hooks-contrib's).

psycopg2's C extension imports ``psycopg2.errors`` at run time, where PyInstaller's analysis
cannot see it; without it the packaged ``fibuca-desktop db`` stopped with "module 'psycopg2' has
no attribute 'errors'". The contrib hook's only import, ``mx.DateTime``, is never installed.
Applied only when something imports psycopg2.
"""

hiddenimports = ["psycopg2.errors"]
