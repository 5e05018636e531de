module conductor.local/hack/images/pause

go 1.24
