-- Example schema for eddy-server: a todo list with labels.
-- Run: eddy-server --schema server/examples/todo.sql --data :memory:

CREATE TABLE todos (
    id          int8 PRIMARY KEY,
    title       text NOT NULL,
    done        bool NOT NULL,
    created_at  timestamptz,
    meta        jsonb,
    tags        int4[],
    priority    int4,
    score       float8
);

CREATE TABLE labels (
    id    int8 PRIMARY KEY,
    name  varchar(40) NOT NULL UNIQUE
);

-- Join table: composite primary key and two foreign keys.
CREATE TABLE todo_labels (
    todo_id   int8 NOT NULL REFERENCES todos (id),
    label_id  int8 NOT NULL REFERENCES labels (id),
    PRIMARY KEY (todo_id, label_id)
);
