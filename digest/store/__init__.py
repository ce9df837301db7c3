"""The database: tables and migrations, and every query and bulk write the stages need."""
