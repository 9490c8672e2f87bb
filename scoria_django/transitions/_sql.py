"""Ready SQL for the transition layer's hot path. Private: only ``transitions`` uses it.

Building a statement through the ORM costs 300-1,000 Python calls; the same statement
as ready SQL through ``connection.cursor()`` costs a few dozen (docs/performance.md has
the measurement that keeps it). Names come from the models' ``_meta`` (so ``db_table``
and ``db_column`` still apply), values are adapted by each field's own
``get_db_prep_save``/``get_db_prep_value`` and read back through the converters the ORM
applies, so a row written or read here is exactly the row the ORM would write or read.
Every function takes the ``connection`` of the database alias the router chose.
"""

import datetime

from django.db.models import DateTimeField, ExpressionWrapper
from django.db.models.functions import Now
from django.db.models.sql import Query


class DbNowPlus:
    """``database clock + seconds`` as a column value (a lease expiry)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds):
        self.seconds = seconds


class _Table:
    """One model's names and converters for one connection (built once, then reused)."""

    def __init__(self, model, connection):
        meta, quote = model._meta, connection.ops.quote_name
        self.model = model
        self.fields = list(meta.concrete_fields)
        self.attnames = [field.attname for field in self.fields]
        self.name = quote(meta.db_table)
        self.column = {field.attname: quote(field.column) for field in self.fields}
        self.field = {field.attname: field for field in self.fields}
        self.field.update({field.name: field for field in self.fields})
        self.column.update({field.name: self.column[field.attname] for field in self.fields})
        self.select = f"SELECT {', '.join(self.column[a] for a in self.attnames)} FROM {self.name}"
        self.converters = []
        for position, field in enumerate(self.fields):
            col = field.get_col(meta.db_table)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                self.converters.append((position, found, col))
        self.expressions = {}
        # Fields whose adaptation returns a value of this type unchanged: stored as is.
        self.plain = {
            field.attname: _PLAIN[field.get_internal_type()]
            for field in self.fields
            if field.get_internal_type() in _PLAIN
        }


_PLAIN = {
    "CharField": str,
    "TextField": str,
    "IntegerField": int,
    "PositiveIntegerField": int,
    "BigIntegerField": int,
    "BigAutoField": int,
    "FloatField": float,
}


# (model, alias) -> _Table. The converters a table holds take the connection as an
# argument when called, so one table serves every thread's connection to that alias.
_TABLES: dict = {}


def _table(model, connection):
    key = (model, connection.alias)
    table = _TABLES.get(key)
    if table is None:
        table = _TABLES[key] = _Table(model, connection)
    return table


def _expression(table, value, connection):
    """(sql, params) of an expression value; the lease expiry is compiled once."""
    key = ("now_plus", value.seconds) if isinstance(value, DbNowPlus) else None
    found = table.expressions.get(key) if key else None
    if found is None:
        if key:
            value = ExpressionWrapper(
                Now() + datetime.timedelta(seconds=value.seconds), output_field=DateTimeField()
            )
        query = Query(table.model)
        resolved = value.resolve_expression(query, allow_joins=False, for_save=True)
        sql, params = query.get_compiler(connection=connection).compile(resolved)
        found = (sql, tuple(params))
        if key:
            table.expressions[key] = found
    return found


def _where(table, where, connection):
    """``a = %s AND b IN (%s, %s) AND c IS NULL`` and its adapted params."""
    parts, params = [], []
    for name, value in where.items():
        column, field = table.column[name], table.field[name]
        if value is None:
            parts.append(f"{column} IS NULL")
        elif isinstance(value, list | tuple):
            parts.append(f"{column} IN ({', '.join(['%s'] * len(value))})")
            params.extend(field.get_db_prep_value(item, connection) for item in value)
        else:
            parts.append(f"{column} = %s")
            params.append(field.get_db_prep_value(value, connection))
    return " AND ".join(parts), params


def _row_to_instance(table, row, connection):
    row = list(row)
    for position, converters, col in table.converters:
        value = row[position]
        for converter in converters:
            value = converter(value, col, connection)
        row[position] = value
    return table.model.from_db(connection.alias, table.attnames, row)


def fetch(model, where, connection, *, for_update=False):
    """The row matching ``where`` (names to values, ANDed) as a model instance, or None."""
    table = _table(model, connection)
    condition, params = _where(table, where, connection)
    sql = f"{table.select} WHERE {condition}"
    if for_update and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else _row_to_instance(table, row, connection)


def fetch_all(model, where, connection, *, order_by=()):
    """Every row matching ``where`` as model instances, ordered by the named columns."""
    table = _table(model, connection)
    condition, params = _where(table, where, connection)
    sql = f"{table.select} WHERE {condition}"
    if order_by:
        sql += f" ORDER BY {', '.join(table.column[name] for name in order_by)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_row_to_instance(table, row, connection) for row in rows]


def exists(model, where, connection):
    table = _table(model, connection)
    condition, params = _where(table, where, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table.name} WHERE {condition} LIMIT 1", params)
        return cursor.fetchone() is not None


def _value(table, field, value, connection):
    """(placeholder, params) for one value to store."""
    if value is None or type(value) is table.plain.get(field.attname):
        return "%s", (value,)
    if hasattr(value, "resolve_expression") or isinstance(value, DbNowPlus):
        return _expression(table, value, connection)
    if hasattr(value, "_meta"):  # a model instance assigned to a foreign key
        value = value.pk
    return "%s", (field.get_db_prep_save(value, connection),)


def update(model, where, values, connection):
    """``UPDATE ... SET values WHERE where``; returns the number of rows changed."""
    table = _table(model, connection)
    sets, params = [], []
    for name, value in values.items():
        placeholder, adapted = _value(table, table.field[name], value, connection)
        sets.append(f"{table.column[name]} = {placeholder}")
        params.extend(adapted)
    condition, where_params = _where(table, where, connection)
    params.extend(where_params)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table.name} SET {', '.join(sets)} WHERE {condition}", params)
        return cursor.rowcount


def insert(objs, connection):
    """Insert new instances of one model, a batch per statement; an unset auto pk is
    left to the database (and not read back)."""
    if not objs:
        return
    table = _table(type(objs[0]), connection)
    pk = table.model._meta.pk
    fields = [f for f in table.fields if not (f is pk and getattr(objs[0], f.attname) is None)]
    head = (
        f"INSERT INTO {table.name} ({', '.join(table.column[f.attname] for f in fields)}) VALUES "
    )
    size = max(connection.ops.bulk_batch_size(fields, objs) or len(objs), 1)
    computed = []  # (obj, attname) of values the database computes (a lease expiry)
    with connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            rows, params = [], []
            for obj in objs[start : start + size]:
                placeholders = []
                for field in fields:
                    value = getattr(obj, field.attname)
                    placeholder, adapted = _value(table, field, value, connection)
                    if isinstance(value, DbNowPlus):
                        computed.append((obj, field.attname))
                    placeholders.append(placeholder)
                    params.extend(adapted)
                rows.append(f"({', '.join(placeholders)})")
            cursor.execute(head + ", ".join(rows), params)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    for obj, attname in computed:
        setattr(obj, attname, None)  # not read back: unknown here, not the marker
