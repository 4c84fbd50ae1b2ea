package projection

import (
	"strconv"
	"unicode/utf8"
)

// A replay (cold start, `logq state`) spends most of its time decoding
// event data, so Decode first tries decodeFast: a scanner for the shape
// every event has in practice (as the writer stores it and PostgreSQL's
// jsonb renders it) — one flat JSON object whose members are the payload's
// own fields, with strings without escapes, integers, booleans or null.
// Anything else (an escape, a float, an unknown or differently cased
// member, a type mismatch, trailing data) makes it give up, and Decode
// falls back to encoding/json, so the result — payload or error — is
// always encoding/json's.

// jsonValue is one scanned member value.
type jsonValue struct {
	kind byte   // 's' string, 'n' integer, 't' true, 'f' false, 'z' null
	raw  []byte // the string's contents (unquoted, no escapes) or the integer's digits
}

// scanObject calls member for each member of the flat JSON object data, in
// order. It returns false (and the caller must fall back) if data is not
// such an object or member returns false.
func scanObject(data []byte, member func(key []byte, v jsonValue) bool) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		key, next, ok := scanString(data, i)
		if !ok {
			return false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		if i >= len(data) {
			return false
		}
		var v jsonValue
		switch c := data[i]; {
		case c == '"':
			v.kind = 's'
			v.raw, i, ok = scanString(data, i)
			if !ok {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			start := i
			if c == '-' {
				i++
			}
			digits := i
			for i < len(data) && data[i] >= '0' && data[i] <= '9' {
				i++
			}
			if i == digits || (data[digits] == '0' && i-digits > 1) {
				return false // no digits, or a leading zero
			}
			if i < len(data) && (data[i] == '.' || data[i] == 'e' || data[i] == 'E') {
				return false // not an integer
			}
			v.kind, v.raw = 'n', data[start:i]
		case hasWord(data, i, "true"):
			v.kind, i = 't', i+4
		case hasWord(data, i, "false"):
			v.kind, i = 'f', i+5
		case hasWord(data, i, "null"):
			v.kind, i = 'z', i+4
		default:
			return false // an object, an array, or not JSON
		}
		if !member(key, v) {
			return false
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

func hasWord(data []byte, i int, w string) bool {
	return len(data)-i >= len(w) && string(data[i:i+len(w)]) == w
}

// scanString scans the JSON string at data[i]: its contents and the index
// after it. ok is false for anything but a string of valid UTF-8 without
// escapes or control characters.
func scanString(data []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, false
	}
	start := i + 1
	ascii := true
	for j := start; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			s = data[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false // encoding/json replaces bad bytes
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, 0, false
}

// Setters for one member: each reports whether the value fit (else: fall
// back). A null leaves a non-pointer field alone, as encoding/json does.

func setString(dst *string, v jsonValue) bool {
	switch v.kind {
	case 's':
		*dst = string(v.raw)
		return true
	case 'z':
		return true
	}
	return false
}

func setInt64(dst *int64, v jsonValue) bool {
	switch v.kind {
	case 'n':
		n, err := strconv.ParseInt(string(v.raw), 10, 64)
		*dst = n
		return err == nil
	case 'z':
		return true
	}
	return false
}

func setInt(dst *int, v jsonValue) bool {
	switch v.kind {
	case 'n':
		n, err := strconv.ParseInt(string(v.raw), 10, strconv.IntSize)
		*dst = int(n)
		return err == nil
	case 'z':
		return true
	}
	return false
}

func setIntPtr(dst **int, v jsonValue) bool {
	if v.kind == 'z' {
		*dst = nil
		return true
	}
	var n int
	if !setInt(&n, v) {
		return false
	}
	*dst = &n
	return true
}

func setBool(dst *bool, v jsonValue) bool {
	switch v.kind {
	case 't', 'f':
		*dst = v.kind == 't'
		return true
	case 'z':
		return true
	}
	return false
}

// decodeFast decodes the data of an event of type typ, or reports that
// Decode must fall back to encoding/json.
func decodeFast(typ string, data []byte) (Payload, bool) {
	switch typ {
	case TypeWriterElected:
		var p WriterElected
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			switch string(k) {
			case "manager":
				return setString(&p.Manager, v)
			case "epoch":
				return setInt64(&p.Epoch, v)
			}
			return false
		})
	case TypeBrokerRegistered:
		var p BrokerRegistered
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			switch string(k) {
			case "broker_id":
				return setInt64(&p.BrokerID, v)
			case "address":
				return setString(&p.Address, v)
			case "kafka_address":
				return setString(&p.KafkaAddress, v)
			case "storage_cluster":
				return setString(&p.StorageCluster, v)
			}
			return false
		})
	case TypeBrokerStatusChanged:
		var p BrokerStatusChanged
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			switch string(k) {
			case "broker_id":
				return setInt64(&p.BrokerID, v)
			case "alive":
				return setBool(&p.Alive, v)
			}
			return false
		})
	case TypeBrokerRemoved:
		var p BrokerRemoved
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			if string(k) == "broker_id" {
				return setInt64(&p.BrokerID, v)
			}
			return false
		})
	case TypeTopicCreated:
		var p TopicCreated
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			switch string(k) {
			case "topic":
				return setString(&p.Topic, v)
			case "partitions":
				return setInt(&p.Partitions, v)
			}
			return false
		})
	case TypePartitionsAdded:
		var p PartitionsAdded
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			switch string(k) {
			case "topic":
				return setString(&p.Topic, v)
			case "count":
				return setInt(&p.Count, v)
			}
			return false
		})
	case TypePartitionAssigned:
		var p PartitionAssigned
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			switch string(k) {
			case "topic":
				return setString(&p.Topic, v)
			case "partition":
				return setInt(&p.Partition, v)
			case "broker_id":
				return setInt64(&p.BrokerID, v)
			case "epoch":
				return setInt64(&p.Epoch, v)
			}
			return false
		})
	case TypeProducerRegistered:
		var p ProducerRegistered
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			switch string(k) {
			case "producer_id":
				return setInt64(&p.ProducerID, v)
			case "topic":
				return setString(&p.Topic, v)
			case "partition":
				return setIntPtr(&p.Partition, v)
			case "principal":
				return setString(&p.Principal, v)
			}
			return false
		})
	case TypeConsumerRegistered:
		var p ConsumerRegistered
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			switch string(k) {
			case "consumer_id":
				return setInt64(&p.ConsumerID, v)
			case "topic":
				return setString(&p.Topic, v)
			case "partition":
				return setIntPtr(&p.Partition, v)
			case "principal":
				return setString(&p.Principal, v)
			}
			return false
		})
	case TypeClientStatusChanged:
		var p ClientStatusChanged
		return fast(data, &p, func(k []byte, v jsonValue) bool {
			switch string(k) {
			case "client":
				return setString(&p.Client, v)
			case "id":
				return setInt64(&p.ID, v)
			case "active":
				return setBool(&p.Active, v)
			}
			return false
		})
	}
	return nil, false
}

// fast scans data into *p with member and returns *p once filled.
func fast[T Payload](data []byte, p *T, member func(key []byte, v jsonValue) bool) (Payload, bool) {
	if !scanObject(data, member) {
		return nil, false
	}
	return *p, true
}
