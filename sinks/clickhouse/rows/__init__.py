"""From a Kafka message to the row the sink inserts; pure functions, unit-tested without servers.

:mod:`.tables` declares every table once (columns, topic, upgrades), made of the parts in
:mod:`.columns` (value checks in :mod:`.checks`, upgrades of older records in
:mod:`.upgrades`); :mod:`.routing` derives from them which table and reader each message gets.
"""
