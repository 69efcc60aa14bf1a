"""``python -m tigerseal_sql`` = ``tigerseal-sql``."""

from tigerseal_sql.cli import main

main()
