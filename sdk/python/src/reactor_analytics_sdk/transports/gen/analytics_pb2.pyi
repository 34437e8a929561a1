from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ("event", "anonymous_id", "user_id", "properties", "context", "timestamp", "message_id")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    event: str
    anonymous_id: str
    user_id: str
    properties: bytes
    context: bytes
    timestamp: str
    message_id: str
    def __init__(self, event: _Optional[str] = ..., anonymous_id: _Optional[str] = ..., user_id: _Optional[str] = ..., properties: _Optional[bytes] = ..., context: _Optional[bytes] = ..., timestamp: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class TrackRequest(_message.Message):
    __slots__ = ("project", "event")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    project: str
    event: Event
    def __init__(self, project: _Optional[str] = ..., event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class BatchRequest(_message.Message):
    __slots__ = ("project", "events", "sent_at")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    project: str
    events: _containers.RepeatedCompositeFieldContainer[Event]
    sent_at: str
    def __init__(self, project: _Optional[str] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., sent_at: _Optional[str] = ...) -> None: ...

class IdentifyRequest(_message.Message):
    __slots__ = ("project", "anonymous_id", "user_id", "traits", "timestamp", "message_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    anonymous_id: str
    user_id: str
    traits: bytes
    timestamp: str
    message_id: str
    def __init__(self, project: _Optional[str] = ..., anonymous_id: _Optional[str] = ..., user_id: _Optional[str] = ..., traits: _Optional[bytes] = ..., timestamp: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class AliasRequest(_message.Message):
    __slots__ = ("project", "previous_id", "user_id", "timestamp", "message_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    previous_id: str
    user_id: str
    timestamp: str
    message_id: str
    def __init__(self, project: _Optional[str] = ..., previous_id: _Optional[str] = ..., user_id: _Optional[str] = ..., timestamp: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("index", "reason", "message", "field")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    message: str
    field: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class IngestReply(_message.Message):
    __slots__ = ("accepted", "rejected")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: _containers.RepeatedCompositeFieldContainer[Rejection]
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("project", "query")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    project: str
    query: bytes
    def __init__(self, project: _Optional[str] = ..., query: _Optional[bytes] = ...) -> None: ...

class QueryReply(_message.Message):
    __slots__ = ("kind", "rows", "took_ms", "rows_scanned", "comparison")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOOK_MS_FIELD_NUMBER: _ClassVar[int]
    ROWS_SCANNED_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    rows: bytes
    took_ms: float
    rows_scanned: int
    comparison: bytes
    def __init__(self, kind: _Optional[str] = ..., rows: _Optional[bytes] = ..., took_ms: _Optional[float] = ..., rows_scanned: _Optional[int] = ..., comparison: _Optional[bytes] = ...) -> None: ...

class EraseRequest(_message.Message):
    __slots__ = ("project", "user_id", "anonymous_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    user_id: str
    anonymous_id: str
    def __init__(self, project: _Optional[str] = ..., user_id: _Optional[str] = ..., anonymous_id: _Optional[str] = ...) -> None: ...

class EraseReply(_message.Message):
    __slots__ = ("events", "identity_links", "traits")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_LINKS_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    events: int
    identity_links: int
    traits: int
    def __init__(self, events: _Optional[int] = ..., identity_links: _Optional[int] = ..., traits: _Optional[int] = ...) -> None: ...
