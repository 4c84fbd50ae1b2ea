package api

// DeleteTopicAnswer is the answer of DELETE /topics/{topic}.
type DeleteTopicAnswer struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Seq     int64  `json:"seq"`
	Topic   string `json:"topic"`
}
