"""The three F1 sources (dump, jolpica, demo) behind one Ergast-table contract."""
